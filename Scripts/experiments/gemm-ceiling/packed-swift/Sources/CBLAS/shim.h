// CBLAS interface: OpenBLAS on Linux (`apt-get install libopenblas-dev`).
// On macOS, Accelerate provides the same cblas_* symbols (see Documentation/Building.md).
#if defined(__APPLE__)
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
// OpenBLAS thread control (not part of CBLAS).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif
