/* SPDX-License-Identifier: MIT */
#pragma once

/* MESSAGE_IDs of gpprobed's journal entries; explained in systemd/gpprobe.catalog. Stable:
 * alerting rules and on-call runbooks match on them. */
#define GP_MID_RUN_PASSED       "5e755bf2b41f411e95f403d8dc9f105d"
#define GP_MID_RUN_DEGRADED     "3bf5263c376c4943852ab8865e5844c8"
#define GP_MID_RUN_FAILED       "476f1a46e74f4715bc8b82de8505f57c"
#define GP_MID_ALERT_RAISED     "19b33564ac2449a3bb30dbdea48e7feb"
#define GP_MID_RECOVERED        "59df0dee4f2044e7b0c85bbdae1cb0cf"
#define GP_MID_STARTED          "41a9786633e5439492c208b5bdb4c45d"
#define GP_MID_RELOADED         "c8339222a7254b02b69ac076f03dcc20"
#define GP_MID_RELOAD_REJECTED  "978fb9fce18f4a9da29fc2b99289854e"
#define GP_MID_RUN_SKIPPED      "8124b9f61a2e4c18b866ef118ddf9d23"
#define GP_MID_STOPPED          "ad9541db51ce4ead87b84e153b45c9b6"
/* Issue 13: a silence (maintenance window) began or was replaced; it ended (expired, lifted). */
#define GP_MID_SILENCED         "d55faec41ba045668523951df8861685"
#define GP_MID_SILENCE_ENDED    "5d4190950cdd43b592a48780500e64c2"
#define GP_MID_CERT_EXPIRING    "944eb7f18a7743ba95b8f2d60316e349"
#define GP_MID_API_AUTH_FAILED  "aa608c729c5d48fdafc28de160d846e9"
