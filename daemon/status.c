/* placeholder */
#include "status.h"
