/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The subcommands of cache_replay that live in their own files, for the
 * dispatcher in cache_replay.c: argv[0] is the subcommand's name.
 */
#ifndef TOOLS_REPLAY_SIMULATE_H
#define TOOLS_REPLAY_SIMULATE_H

/* cache_replay simulate; returns the exit code. */
int cache_replay_simulate(int argc, const char **argv);

#endif
