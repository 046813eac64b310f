/* placeholder */
#include "jsonpath.h"
