/*
 * Replays a libFuzzer corpus through a fuzz target without libFuzzer, so a
 * gcc build (make test) runs every seed and every crasher ever found.
 * Usage: replay_<parser> DIR|FILE...  Exit 0 when every input returned.
 */
#include <sys/stat.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pc_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_BYTES (4 * 1024 * 1024) /* one corpus file */

static int
run_file(const char *path)
{
    char *buf = NULL;
    size_t len = 0;

    if (pc_file_read(path, REPLAY_MAX_BYTES, &buf, &len) != 0)
        return -1;
    LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
    free(buf);
    return 0;
}

int
main(int argc, char **argv)
{
    int i, n = 0, bad = 0;

    for (i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "%s: cannot stat\n", argv[i]);
            bad++;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            if (d == NULL) {
                bad++;
                continue;
            }
            while ((e = readdir(d)) != NULL) {
                char p[4096];
                if (e->d_name[0] == '.')
                    continue;
                snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
                if (run_file(p) != 0)
                    bad++;
                n++;
            }
            closedir(d);
        } else {
            if (run_file(argv[i]) != 0)
                bad++;
            n++;
        }
    }
    printf("replayed %d inputs, %d unreadable\n", n, bad);
    return bad == 0 && n > 0 ? 0 : 1;
}
