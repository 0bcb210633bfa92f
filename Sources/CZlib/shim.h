// zlib, for .gz datasets (`apt-get install zlib1g-dev`).
#include <zlib.h>
