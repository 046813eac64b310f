/* SPDX-License-Identifier: MIT */
#pragma once

/* The reader side of a failure transcript (daemon/model/transcript.h), for gpprobectl: bytes in,
 * a validated document or a one-line reason out; and the readable rendering on-call reads.
 * Pure but for the FILE it prints to. */

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* A transcript is at most ~1 MiB (GP_TRANSCRIPT_TOTAL_MAX) plus its envelope. */
#define GP_TRANSCRIPT_FILE_MAX ((size_t) 4 * 1024 * 1024)

/* 0 with *ret the document (schema 1: name, run_id, result, sessions[] of {index, result,
 * entries[] of {t_ms, kind, ...}}), or -EINVAL with a one-line reason, or -ENOMEM. */
int gp_transcript_parse(const char *data, size_t len, json_t **ret, char **ret_error);

/* Prints a parsed transcript for people: a header, then per session its verdict and its
 * entries, times right-aligned in ms since the run started, "<<" for frames from the server,
 * ">>" for frames to it, and a line where the deadline passed awaiting an event. */
void gp_transcript_print(json_t *doc, FILE *f);
