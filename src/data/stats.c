/* Dataset statistics: global and per-feature range, mean and std, class
 * counts.  uint8 data uses exact integer sums. */
#include "../internal.h"
#include "nabla/data.h"

#include <math.h>
#include <stdlib.h>

void nb_data_stats_free(nb_data_stats *s)
{
    if (!s) return;
    free(s->feat_min);
    free(s->feat_max);
    free(s->feat_mean);
    free(s->feat_std);
    free(s->class_count);
    free(s);
}

static double nb__var(double sumsq_over_n, double mean)
{
    double v = sumsq_over_n - mean * mean;
    return v > 0 ? v : 0.0;
}

nb_data_stats *nb_dataset_stats(const nb_dataset *ds)
{
    if (nb_dataset_validate(ds) != 0) return NULL;
    size_t n = ds->n, d = ds->d;
    nb_data_stats *s = calloc(1, sizeof *s);
    if (!s) return nb__err("%s: stats: out of memory", ds->name);
    s->n = n;
    s->d = d;
    s->n_classes = ds->n_classes;
    s->scale = ds->kind == NB_DATA_U8 ? 1.0 / 255.0 : 1.0;
    s->feat_min = malloc(d * sizeof(double));
    s->feat_max = malloc(d * sizeof(double));
    s->feat_mean = malloc(d * sizeof(double));
    s->feat_std = malloc(d * sizeof(double));
    s->class_count = calloc((size_t)ds->n_classes, sizeof(size_t));
    if (!s->feat_min || !s->feat_max || !s->feat_mean || !s->feat_std || !s->class_count) {
        nb_data_stats_free(s);
        return nb__err("%s: stats: out of memory", ds->name);
    }
    double total = (double)n * (double)d;
    if (ds->kind == NB_DATA_U8) {
        uint64_t *sum = calloc(d, sizeof *sum), *sq = calloc(d, sizeof *sq);
        uint8_t *mn = malloc(d), *mx = calloc(d, 1);
        if (!sum || !sq || !mn || !mx) {
            free(sum);
            free(sq);
            free(mn);
            free(mx);
            nb_data_stats_free(s);
            return nb__err("%s: stats: out of memory", ds->name);
        }
        memset(mn, 255, d);
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p = ds->x8 + i * d;
            for (size_t j = 0; j < d; j++) {
                unsigned v = p[j];
                sum[j] += v;
                sq[j] += v * v;
                if (v < mn[j]) mn[j] = (uint8_t)v;
                if (v > mx[j]) mx[j] = (uint8_t)v;
            }
        }
        uint64_t gs = 0, gq = 0;
        unsigned gmn = 255, gmx = 0;
        for (size_t j = 0; j < d; j++) {
            gs += sum[j];
            gq += sq[j];
            if (mn[j] < gmn) gmn = mn[j];
            if (mx[j] > gmx) gmx = mx[j];
            double m = (double)sum[j] / (double)n;
            s->feat_mean[j] = m / 255.0;
            s->feat_std[j] = sqrt(nb__var((double)sq[j] / (double)n, m)) / 255.0;
            s->feat_min[j] = mn[j] / 255.0;
            s->feat_max[j] = mx[j] / 255.0;
        }
        double m = (double)gs / total;
        s->mean = m / 255.0;
        s->std = sqrt(nb__var((double)gq / total, m)) / 255.0;
        s->min = gmn / 255.0;
        s->max = gmx / 255.0;
        free(sum);
        free(sq);
        free(mn);
        free(mx);
    } else {
        /* Two passes per feature; the global variance combines the features'
         * (within + between), which is exact algebra, not an approximation. */
        for (size_t j = 0; j < d; j++) {
            s->feat_min[j] = INFINITY;
            s->feat_max[j] = -INFINITY;
            s->feat_mean[j] = 0;
            s->feat_std[j] = 0;
        }
        for (size_t i = 0; i < n; i++) {
            const double *p = ds->xf + i * d;
            for (size_t j = 0; j < d; j++) {
                s->feat_mean[j] += p[j];
                if (p[j] < s->feat_min[j]) s->feat_min[j] = p[j];
                if (p[j] > s->feat_max[j]) s->feat_max[j] = p[j];
            }
        }
        double gsum = 0;
        for (size_t j = 0; j < d; j++) {
            gsum += s->feat_mean[j];
            s->feat_mean[j] /= (double)n;
        }
        double gm = gsum / total;
        for (size_t i = 0; i < n; i++) {
            const double *p = ds->xf + i * d;
            for (size_t j = 0; j < d; j++) {
                double e = p[j] - s->feat_mean[j];
                s->feat_std[j] += e * e;
            }
        }
        double gss = 0;
        s->min = INFINITY;
        s->max = -INFINITY;
        for (size_t j = 0; j < d; j++) {
            double b = s->feat_mean[j] - gm;
            gss += s->feat_std[j] + (double)n * b * b;
            s->feat_std[j] = sqrt(s->feat_std[j] / (double)n);
            if (s->feat_min[j] < s->min) s->min = s->feat_min[j];
            if (s->feat_max[j] > s->max) s->max = s->feat_max[j];
        }
        s->mean = gm;
        s->std = sqrt(gss / total);
    }
    for (size_t j = 0; j < d; j++)
        if (s->feat_min[j] == s->feat_max[j]) s->n_constant++;
    for (size_t i = 0; i < n * nb_dataset_labels_per_sample(ds); i++) s->class_count[ds->y[i]]++;
    s->min_class_count = SIZE_MAX;
    for (int c = 0; c < ds->n_classes; c++) {
        size_t k = s->class_count[c];
        if (k < s->min_class_count) s->min_class_count = k;
        if (k > s->max_class_count) s->max_class_count = k;
        if (k == 0) s->n_empty_classes++;
    }
    return s;
}
