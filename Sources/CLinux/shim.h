/* Linux calls that Swift's Glibc module does not bring: extended attributes. */
#include <sys/types.h>
#include <sys/xattr.h>
