/* init.c — parameter initialization (torch.nn.init), in place under no-grad. */
#include "config.h"
#include "nb__autograd.h"
#include "nb_nn.h"

#include <math.h>

static void fans(const char *op, const nb_tensor *t, double *fan_in, double *fan_out)
{
    if (t->ndim < 2)
        nb__fail("%s: fan in/out need a tensor of at least 2 dims, got shape %s", op, NB__SHAPE(t));
    double receptive = 1;
    for (int d = 2; d < t->ndim; d++)
        receptive *= (double)t->shape[d];
    *fan_in = (double)t->shape[1] * receptive;
    *fan_out = (double)t->shape[0] * receptive;
}

nb_tensor *nb_init_xavier_uniform_(nb_tensor *t, double gain, nb_generator *gen)
{
    double fi, fo;
    fans("nb_init_xavier_uniform_", t, &fi, &fo);
    double a = gain * sqrt(6.0 / (fi + fo));
    return nb_uniform_(t, -a, a, gen);
}

nb_tensor *nb_init_xavier_normal_(nb_tensor *t, double gain, nb_generator *gen)
{
    double fi, fo;
    fans("nb_init_xavier_normal_", t, &fi, &fo);
    return nb_normal_(t, 0.0, gain * sqrt(2.0 / (fi + fo)), gen);
}

nb_tensor *nb_init_kaiming_uniform_(nb_tensor *t, double a, nb_generator *gen)
{
    double fi, fo;
    fans("nb_init_kaiming_uniform_", t, &fi, &fo);
    double bound = sqrt(3.0) * sqrt(2.0 / (1.0 + a * a)) / sqrt(fi);
    return nb_uniform_(t, -bound, bound, gen);
}

nb_tensor *nb_init_kaiming_normal_(nb_tensor *t, double a, nb_generator *gen)
{
    double fi, fo;
    fans("nb_init_kaiming_normal_", t, &fi, &fo);
    return nb_normal_(t, 0.0, sqrt(2.0 / (1.0 + a * a)) / sqrt(fi), gen);
}
