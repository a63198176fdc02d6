// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * cache_writeback front end: not written yet.  It reports so and fails, so no
 * script can mistake it for a working tool.
 */
#include "tools/tool.h"

int cmd_cache_writeback(int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	tool_error("not implemented yet");
	return 1;
}
