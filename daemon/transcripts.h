/* SPDX-License-Identifier: MIT */
#pragma once

/* The failure transcripts on disk (docs/spec.md section 8, issue 12): one file a failed or
 * degraded run, DIR/RUN_ID.json (mode 0600, written atomically), the newest Transcripts= kept.
 * DIR is NAME.transcripts beside the StateFile= (gp_transcript_dir). */

#include "config.h"
#include "result.h"

/* The transcript of res (which recorded one) as a file at path, mode 0600, atomically. Negative
 * errno with a message naming the path. */
int gp_transcript_write_file(const char *path, const gp_result *res, const char *name, char **ret_error);

/* After a run: a failed or degraded one with a transcript is written to the probe's directory
 * (made 0700 when missing), res->transcript_path says where, and the oldest files beyond
 * Transcripts= go. The recording is freed either way (it may be 1 MiB). 0 when nothing was to
 * be written; negative errno with a message. */
int gp_transcripts_save(const gp_config *cfg, gp_result *res, char **ret_error);

/* Removes DIR's oldest transcripts (by modification time) until keep are left. Negative errno
 * when DIR cannot be read; files that cannot be removed are left. */
int gp_transcripts_prune(const char *dir, unsigned keep);
