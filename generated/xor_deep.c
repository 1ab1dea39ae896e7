/* GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/xor_deep.toml`.
 *
 * A 2-3-3-1 network (tanh, then sigmoid hidden layers) with binary cross-entropy on XOR.
 * The whole gradient-descent loop in C, printed by SymPy from the same derivation as
 * generated/xor_deep.py (derive/templates/train_loop.c.j2).
 * train.py --backend c compiles it with the system C compiler and loads it with ctypes,
 * only beside the module whose own hash (MODULE_SHA256) it names here:
 * module-sha256: 7fb7ce7c320196de524f4925723118f5d63972a23258c4c191021f0e59e2a92a
 * source-sha256: 5520a0a784bb30f3d0f582e2aafa79a224113368ed7c585e0f4a7b1169dd1c23
 * (train.py compiles this file only while that hash of it holds: edit the spec, not this.)
 */
#include <math.h>

static inline double softplus(double z) { return fmax(z, 0.0) + log1p(exp(-fabs(z))); }

/* Parameters, flat and in this order (C order within each array):
 *   W1 (3, 2): params[0..5]
 *   b1 (3,): params[6..8]
 *   W2 (3, 3): params[9..17]
 *   b2 (3,): params[18..20]
 *   w3 (3,): params[21..23]
 *   b3 (): params[24..24]
 */
int n_params(void) { return 25; }

/* Full-batch gradient descent: `epochs` steps of theta <- theta - lr * dL/dtheta over the
 * n samples X (n x 2, row-major) with targets y. params is updated in place;
 * losses[e] receives the loss before update e. */
void train(double *params, const double *X, const double *targets, int n, double lr,
           int epochs, double *losses)
{
    double W1_1_1 = params[0];
    double W1_1_2 = params[1];
    double W1_2_1 = params[2];
    double W1_2_2 = params[3];
    double W1_3_1 = params[4];
    double W1_3_2 = params[5];
    double b1_1 = params[6];
    double b1_2 = params[7];
    double b1_3 = params[8];
    double W2_1_1 = params[9];
    double W2_1_2 = params[10];
    double W2_1_3 = params[11];
    double W2_2_1 = params[12];
    double W2_2_2 = params[13];
    double W2_2_3 = params[14];
    double W2_3_1 = params[15];
    double W2_3_2 = params[16];
    double W2_3_3 = params[17];
    double b2_1 = params[18];
    double b2_2 = params[19];
    double b2_3 = params[20];
    double w3_1 = params[21];
    double w3_2 = params[22];
    double w3_3 = params[23];
    double b3 = params[24];
    for (int epoch = 0; epoch < epochs; ++epoch) {
        double total = 0.0;
        double g_W1_1_1 = 0.0;
        double g_W1_1_2 = 0.0;
        double g_W1_2_1 = 0.0;
        double g_W1_2_2 = 0.0;
        double g_W1_3_1 = 0.0;
        double g_W1_3_2 = 0.0;
        double g_b1_1 = 0.0;
        double g_b1_2 = 0.0;
        double g_b1_3 = 0.0;
        double g_W2_1_1 = 0.0;
        double g_W2_1_2 = 0.0;
        double g_W2_1_3 = 0.0;
        double g_W2_2_1 = 0.0;
        double g_W2_2_2 = 0.0;
        double g_W2_2_3 = 0.0;
        double g_W2_3_1 = 0.0;
        double g_W2_3_2 = 0.0;
        double g_W2_3_3 = 0.0;
        double g_b2_1 = 0.0;
        double g_b2_2 = 0.0;
        double g_b2_3 = 0.0;
        double g_w3_1 = 0.0;
        double g_w3_2 = 0.0;
        double g_w3_3 = 0.0;
        double g_b3 = 0.0;
        for (int s = 0; s < n; ++s) {
            const double x_1 = X[2 * s + 0];
            const double x_2 = X[2 * s + 1];
            const double y = targets[s];
            const double z1_1 = W1_1_1 * x_1 + W1_1_2 * x_2 + b1_1;
            const double z1_2 = W1_2_1 * x_1 + W1_2_2 * x_2 + b1_2;
            const double z1_3 = W1_3_1 * x_1 + W1_3_2 * x_2 + b1_3;
            const double h1_1 = tanh(z1_1);
            const double h1_2 = tanh(z1_2);
            const double h1_3 = tanh(z1_3);
            const double z2_1 = W2_1_1 * h1_1 + W2_1_2 * h1_2 + W2_1_3 * h1_3 + b2_1;
            const double z2_2 = W2_2_1 * h1_1 + W2_2_2 * h1_2 + W2_2_3 * h1_3 + b2_2;
            const double z2_3 = W2_3_1 * h1_1 + W2_3_2 * h1_2 + W2_3_3 * h1_3 + b2_3;
            const double e_z2_1 = exp(-z2_1);
            const double h2_1 = (1.0 / (1.0 + e_z2_1));
            const double e_z2_2 = exp(-z2_2);
            const double h2_2 = (1.0 / (1.0 + e_z2_2));
            const double e_z2_3 = exp(-z2_3);
            const double h2_3 = (1.0 / (1.0 + e_z2_3));
            const double z3 = w3_1 * h2_1 + w3_2 * h2_2 + w3_3 * h2_3 + b3;
            const double e_z3 = exp(-z3);
            const double y_hat = (1.0 / (1.0 + e_z3));
            total += softplus(z3) - y * z3;
            const double delta3 = y_hat - y;
            const double delta2_1 = delta3 * w3_1 * h2_1 * (1 - h2_1);
            const double delta2_2 = delta3 * w3_2 * h2_2 * (1 - h2_2);
            const double delta2_3 = delta3 * w3_3 * h2_3 * (1 - h2_3);
            const double delta1_1 = (W2_1_1 * delta2_1 + W2_2_1 * delta2_2 + W2_3_1 * delta2_3) * (1 - pow(h1_1, 2));
            const double delta1_2 = (W2_1_2 * delta2_1 + W2_2_2 * delta2_2 + W2_3_2 * delta2_3) * (1 - pow(h1_2, 2));
            const double delta1_3 = (W2_1_3 * delta2_1 + W2_2_3 * delta2_2 + W2_3_3 * delta2_3) * (1 - pow(h1_3, 2));
            g_W1_1_1 += delta1_1 * x_1;
            g_W1_1_2 += delta1_1 * x_2;
            g_W1_2_1 += delta1_2 * x_1;
            g_W1_2_2 += delta1_2 * x_2;
            g_W1_3_1 += delta1_3 * x_1;
            g_W1_3_2 += delta1_3 * x_2;
            g_b1_1 += delta1_1;
            g_b1_2 += delta1_2;
            g_b1_3 += delta1_3;
            g_W2_1_1 += delta2_1 * h1_1;
            g_W2_1_2 += delta2_1 * h1_2;
            g_W2_1_3 += delta2_1 * h1_3;
            g_W2_2_1 += delta2_2 * h1_1;
            g_W2_2_2 += delta2_2 * h1_2;
            g_W2_2_3 += delta2_2 * h1_3;
            g_W2_3_1 += delta2_3 * h1_1;
            g_W2_3_2 += delta2_3 * h1_2;
            g_W2_3_3 += delta2_3 * h1_3;
            g_b2_1 += delta2_1;
            g_b2_2 += delta2_2;
            g_b2_3 += delta2_3;
            g_w3_1 += delta3 * h2_1;
            g_w3_2 += delta3 * h2_2;
            g_w3_3 += delta3 * h2_3;
            g_b3 += delta3;
        }
        losses[epoch] = total / n;
        W1_1_1 -= lr * (g_W1_1_1 / n);
        W1_1_2 -= lr * (g_W1_1_2 / n);
        W1_2_1 -= lr * (g_W1_2_1 / n);
        W1_2_2 -= lr * (g_W1_2_2 / n);
        W1_3_1 -= lr * (g_W1_3_1 / n);
        W1_3_2 -= lr * (g_W1_3_2 / n);
        b1_1 -= lr * (g_b1_1 / n);
        b1_2 -= lr * (g_b1_2 / n);
        b1_3 -= lr * (g_b1_3 / n);
        W2_1_1 -= lr * (g_W2_1_1 / n);
        W2_1_2 -= lr * (g_W2_1_2 / n);
        W2_1_3 -= lr * (g_W2_1_3 / n);
        W2_2_1 -= lr * (g_W2_2_1 / n);
        W2_2_2 -= lr * (g_W2_2_2 / n);
        W2_2_3 -= lr * (g_W2_2_3 / n);
        W2_3_1 -= lr * (g_W2_3_1 / n);
        W2_3_2 -= lr * (g_W2_3_2 / n);
        W2_3_3 -= lr * (g_W2_3_3 / n);
        b2_1 -= lr * (g_b2_1 / n);
        b2_2 -= lr * (g_b2_2 / n);
        b2_3 -= lr * (g_b2_3 / n);
        w3_1 -= lr * (g_w3_1 / n);
        w3_2 -= lr * (g_w3_2 / n);
        w3_3 -= lr * (g_w3_3 / n);
        b3 -= lr * (g_b3 / n);
    }
    params[0] = W1_1_1;
    params[1] = W1_1_2;
    params[2] = W1_2_1;
    params[3] = W1_2_2;
    params[4] = W1_3_1;
    params[5] = W1_3_2;
    params[6] = b1_1;
    params[7] = b1_2;
    params[8] = b1_3;
    params[9] = W2_1_1;
    params[10] = W2_1_2;
    params[11] = W2_1_3;
    params[12] = W2_2_1;
    params[13] = W2_2_2;
    params[14] = W2_2_3;
    params[15] = W2_3_1;
    params[16] = W2_3_2;
    params[17] = W2_3_3;
    params[18] = b2_1;
    params[19] = b2_2;
    params[20] = b2_3;
    params[21] = w3_1;
    params[22] = w3_2;
    params[23] = w3_3;
    params[24] = b3;
}
