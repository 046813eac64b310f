/* SPDX-License-Identifier: MIT */
#pragma once

/* Run ids: random (version 4) UUIDs in their 36-character text form. */

#define GP_UUID_STRING_MAX 37

void gp_uuid4(char out[GP_UUID_STRING_MAX]);
