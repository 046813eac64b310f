/* placeholder */
#include "template.h"
