// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * SVG charts (see plot.h).  Geometry: a 760 x 460 canvas, the plot area
 * inset for the labels, the legend top right inside the area.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "engine/plot.h"

#define W 760.0
#define H 460.0
#define LEFT 80.0
#define RIGHT 20.0
#define TOP 40.0
#define BOTTOM 60.0

static const char *const colors[] = {
	"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
};
#define NCOLORS (sizeof(colors) / sizeof(colors[0]))

static void escaped(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			/* Control characters cannot appear in XML 1.0. */
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				fputc(*s, f);
		}
	}
}

struct frame {
	double x0, x1, y0, y1;
	bool logx;
};

static double fx(const struct frame *fr, double x)
{
	double a = fr->logx ? log10(x) : x;
	double lo = fr->logx ? log10(fr->x0) : fr->x0;
	double hi = fr->logx ? log10(fr->x1) : fr->x1;

	return LEFT + (hi > lo ? (a - lo) / (hi - lo) : 0.5) *
			      (W - LEFT - RIGHT);
}

static double fy(const struct frame *fr, double y)
{
	return H - BOTTOM - (fr->y1 > fr->y0 ? (y - fr->y0) /
					       (fr->y1 - fr->y0) : 0.5) *
				    (H - TOP - BOTTOM);
}

/* A tick step of 1, 2 or 5 times a power of ten, about n per range. */
static double nice_step(double range, int n)
{
	double raw = range / n, p = pow(10.0, floor(log10(raw)));
	double m = raw / p;

	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void label_number(FILE *f, double v)
{
	if (fabs(v) >= 1e6 || (fabs(v) < 1e-3 && v != 0))
		fprintf(f, "%.3g", v);
	else
		fprintf(f, "%g", v);
}

static void axes(FILE *f, const struct frame *fr, const struct plot *p)
{
	double step;

	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		   "fill=\"none\" stroke=\"#333\"/>\n", LEFT, TOP,
		W - LEFT - RIGHT, H - TOP - BOTTOM);
	/* y ticks */
	step = nice_step(fr->y1 - fr->y0, 5);
	for (double v = ceil(fr->y0 / step) * step; v <= fr->y1 + step * 1e-9;
	     v += step) {
		double y = fy(fr, v);

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
			   "y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT, y,
			W - RIGHT, y);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" "
			   "font-size=\"12\">", LEFT - 6, y + 4);
		label_number(f, fabs(v) < step * 1e-9 ? 0 : v);
		fputs("</text>\n", f);
	}
	/* x ticks: powers of ten (and 2, 5 between) on a log axis */
	if (fr->logx) {
		for (double d = pow(10, floor(log10(fr->x0))); d <= fr->x1;
		     d *= 10) {
			static const double mult[] = { 1, 2, 5 };

			for (int i = 0; i < 3; i++) {
				double v = d * mult[i], x;

				if (v < fr->x0 || v > fr->x1)
					continue;
				x = fx(fr, v);
				fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" "
					   "x2=\"%.1f\" y2=\"%.1f\" "
					   "stroke=\"#ddd\"/>\n", x, TOP, x,
					H - BOTTOM);
				fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" "
					   "text-anchor=\"middle\" "
					   "font-size=\"12\">", x,
					H - BOTTOM + 16);
				label_number(f, v);
				fputs("</text>\n", f);
			}
		}
	} else {
		step = nice_step(fr->x1 - fr->x0, 8);
		for (double v = ceil(fr->x0 / step) * step;
		     v <= fr->x1 + step * 1e-9; v += step) {
			double x = fx(fr, v);

			fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
				   "y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, TOP, x,
				H - BOTTOM);
			fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" "
				   "text-anchor=\"middle\" font-size=\"12\">",
				x, H - BOTTOM + 16);
			label_number(f, fabs(v) < step * 1e-9 ? 0 : v);
			fputs("</text>\n", f);
		}
	}
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
		   "font-size=\"16\">", W / 2, TOP - 14);
	escaped(f, p->title);
	fprintf(f, "</text>\n<text x=\"%.1f\" y=\"%.1f\" "
		   "text-anchor=\"middle\" font-size=\"13\">",
		LEFT + (W - LEFT - RIGHT) / 2, H - 16);
	escaped(f, p->xlabel);
	fprintf(f, "</text>\n<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" "
		   "font-size=\"13\" transform=\"rotate(-90 18 %.1f)\">",
		TOP + (H - TOP - BOTTOM) / 2, TOP + (H - TOP - BOTTOM) / 2);
	escaped(f, p->ylabel);
	fputs("</text>\n", f);
}

int plot_svg(FILE *f, const struct plot *p, const struct plot_series *s,
	     size_t ns)
{
	struct frame fr = { INFINITY, -INFINITY, INFINITY, -INFINITY,
			    p->logx };
	size_t shown = 0;

	for (size_t i = 0; i < ns; i++) {
		for (size_t k = 0; k < s[i].n; k++) {
			double x = s[i].x[k], y = s[i].y[k];

			if (!isfinite(x) || !isfinite(y) || (p->logx && x <= 0))
				continue;
			fr.x0 = fmin(fr.x0, x);
			fr.x1 = fmax(fr.x1, x);
			fr.y0 = fmin(fr.y0, y);
			fr.y1 = fmax(fr.y1, y);
		}
	}
	if (!isfinite(fr.x0)) {
		fr.x0 = 1;
		fr.x1 = 10;
		fr.y0 = 0;
		fr.y1 = 1;
	}
	if (p->ymax > p->ymin) {
		fr.y0 = p->ymin;
		fr.y1 = p->ymax;
	}
	if (fr.x1 <= fr.x0)
		fr.x1 = fr.x0 * (p->logx ? 10 : 1) + 1;
	if (fr.y1 <= fr.y0)
		fr.y1 = fr.y0 + 1;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
		   "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
		   "font-family=\"sans-serif\">\n"
		   "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		W, H, W, H);
	axes(f, &fr, p);
	for (size_t i = 0; i < ns; i++) {
		const char *c = colors[i % NCOLORS];
		bool open = false;

		if (!s[i].n)
			continue;
		if (s[i].style == PLOT_LINE)
			fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" "
				   "stroke-width=\"2\" points=\"", c);
		for (size_t k = 0; k < s[i].n; k++) {
			double x = s[i].x[k], y = s[i].y[k];

			if (!isfinite(x) || !isfinite(y) || (p->logx && x <= 0))
				continue;
			if (s[i].style == PLOT_LINE) {
				fprintf(f, "%s%.1f,%.1f", open ? " " : "",
					fx(&fr, x), fy(&fr, y));
				open = true;
			} else {
				fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" "
					   "r=\"4\" fill=\"%s\"/>\n",
					fx(&fr, x), fy(&fr, y), c);
			}
		}
		if (s[i].style == PLOT_LINE)
			fputs("\"/>\n", f);
		/* Legend entry. */
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" "
			   "height=\"4\" fill=\"%s\"/>\n<text x=\"%.1f\" "
			   "y=\"%.1f\" font-size=\"12\">", W - RIGHT - 170,
			TOP + 14 + 18.0 * (double)shown, c, W - RIGHT - 150,
			TOP + 20 + 18.0 * (double)shown);
		escaped(f, s[i].name);
		fputs("</text>\n", f);
		shown++;
	}
	fputs("</svg>\n", f);
	return ferror(f) ? -EIO : 0;
}
