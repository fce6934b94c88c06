/* The study guide's training loop with the library API: an MLP 784-128-10 on
 * Fashion-MNIST, Adam, gradient clipping, the loss every 100 batches.
 *   build/examples/train_mlp [EPOCHS [MAX_BATCHES]]                         */
#include <nabla/train.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long epochs = argc > 1 ? atol(argv[1]) : 1, max_batches = argc > 2 ? atol(argv[2]) : 0;
    nb_dataset *train, *test;
    if (nb_fashion_mnist_load(NULL, &train, &test)) {
        fprintf(stderr, "%s\n", nb_errmsg());
        return 2;
    }

    nb_rng rng;
    nb_rng_seed(&rng, 42);
    nb_model *m = nb_model_new(NB_F32); /* parameters: one flat buffer */
    nb_model_linear(m, 784, 128, 1);
    nb_model_act(m, NB_ACT_RELU, 0);
    nb_model_linear(m, 128, 10, 1);
    nb_model_init(m, NB_INIT_TORCH, 0, &rng);
    size_t n = nb_model_n_params(m);

    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM); /* lr 1e-3 */
    nb_optim *opt = nb_optim_new(&oc, NB_F32, n);
    nb_loader *loader = nb_loader_new(train, &(nb_loader_opts){.batch_size = 64, .shuffle = 1, .seed = 42});
    static float xb[64 * 784];
    static int32_t yb[64];
    nb_ctx *c = nb_ctx_new(NULL); /* per-step temporaries */

    for (long epoch = 0; epoch < epochs; epoch++) {
        nb_batch b = {.x = xb, .dtype = NB_F32, .y = yb};
        for (long i = 1; nb_loader_next(loader, &b) == 1; i++) {
            nb_tensor *x = nb_from_data(c, NB_F32, 2, (size_t[]){b.n, 784}, xb, NB_BORROW);
            nb_tensor *y = nb_from_data(c, NB_I32, 1, (size_t[]){b.n}, yb, NB_BORROW);
            nb_tensor *loss = nb_cross_entropy(c, nb_model_forward(m, c, x, &rng), y, NB_MEAN, 0.0);
            if (!loss || nb_backward(c, loss, NULL)) {
                fprintf(stderr, "%s\n", nb_errmsg());
                return 1;
            }
            nb_clip_grad_norm(nb_model_grads(m), NB_F32, n, 1.0, NULL); /* clip_grad_norm_(1.0) */
            nb_optim_step(opt, nb_model_params(m), nb_model_grads(m));  /* optimizer.step() */
            nb_model_zero_grad(m);                                      /* optimizer.zero_grad() */
            if (i % 100 == 0) printf("epoch %ld batch %ld loss %.4f\n", epoch + 1, i, nb_item(loss));
            nb_ctx_reset(c); /* frees the step's graph */
            if (max_batches && i >= max_batches) break;
        }
        nb_eval ev;
        nb_evaluate(m, c, test, 1000, &ev, NULL);
        printf("epoch %ld: test loss %.4f, test accuracy %.4f\n", epoch + 1, ev.loss, ev.accuracy);
    }
    nb_ctx_free(c);
    nb_loader_free(loader);
    nb_optim_free(opt);
    nb_model_free(m);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return 0;
}
