/* Linux calls that Swift's Glibc module does not bring: extended attributes, and the GNU posix_spawn file
   actions (glibc 2.29 and 2.34) that start a child in a directory with no descriptor of ours but 0-2. */
#include <sys/types.h>
#include <sys/xattr.h>
#include <spawn.h>

extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *actions, const char *path);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
extern int pipe2(int fds[2], int flags);
