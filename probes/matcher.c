/* placeholder */
#include "matcher.h"
