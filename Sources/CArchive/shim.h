#include <archive.h>
#include <archive_entry.h>

/* AE_IFREG and friends are cast macros that Swift does not import. */
static const unsigned int PA_AE_IFREG = AE_IFREG;
static const unsigned int PA_AE_IFDIR = AE_IFDIR;
static const unsigned int PA_AE_IFLNK = AE_IFLNK;
