// Open MPI for the optional MPI build (`make mpi`; apt-get install libopenmpi-dev openmpi-bin).
// MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, ...) are macros over addresses of library globals,
// which Swift cannot import; these inline functions hand them over as values.
#include <mpi.h>

static inline MPI_Comm sane_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype sane_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype sane_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype sane_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype sane_mpi_int(void) { return MPI_INT; }
static inline MPI_Op sane_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op sane_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op sane_mpi_min(void) { return MPI_MIN; }
static inline void *sane_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int sane_mpi_success(void) { return MPI_SUCCESS; }
static inline MPI_Errhandler sane_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
