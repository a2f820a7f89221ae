// The system's zlib, for the load generator's precompressed messages. Debian: zlib1g-dev.
#include <zlib.h>
