void ck6x16(long kc, const float *a, const float *b, float *c, long ldc, float alpha, float beta);
