// The experiment's micro-kernel (../../../kernel6x16.h) behind a plain C symbol for Swift.
#include "ckernel.h"
#include "../../../kernel6x16.h"

void ck6x16(long kc, const float *a, const float *b, float *c, long ldc, float alpha, float beta) {
    k6x16(kc, a, b, c, ldc, alpha, beta);
}
