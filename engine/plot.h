/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Plain SVG charts, written by hand (no plotting dependency): the miss
 * ratio curves of `cache_replay bound` and `simulate`, and the hit ratio
 * over time of `replay` and `simulate`.
 *
 * One chart: axes with "nice" ticks (linear, or powers of two/ten on a
 * log x axis), a title, axis labels, a legend, and any number of series
 * drawn as lines or as points.  Texts are XML-escaped.  The output is a
 * standalone, well-formed SVG 1.1 document.
 */
#ifndef ENGINE_PLOT_H
#define ENGINE_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum plot_style { PLOT_LINE, PLOT_POINTS };

struct plot_series {
	const char *name;
	const double *x, *y;
	size_t n;
	enum plot_style style;
};

struct plot {
	const char *title;
	const char *xlabel, *ylabel;
	bool logx;		/* x > 0 values only */
	double ymin, ymax;	/* equal: from the data */
};

/* 0, or -EIO when writing failed; series with no points are skipped. */
int plot_svg(FILE *f, const struct plot *p, const struct plot_series *s,
	     size_t ns);

#endif
