// The system's zlib, for permessage-deflate (RFC 7692). Debian: zlib1g-dev.
#include <zlib.h>
