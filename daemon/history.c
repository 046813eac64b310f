/* placeholder */
#include "history.h"
