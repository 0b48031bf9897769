/*
 * Fuzz target: the CA index reader (certmgr/cm_index.c).  Whatever it
 * accepts must survive a round trip: written back and read again, it is the
 * same index.  Bytes come from DIR/index.json, which a careless edit or a
 * bad disk can turn into anything.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certmgr/cm.h"
#include "common/pc_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same_or_abort(const struct cm_index *a, const struct cm_index *b)
{
    size_t i;

    if (a->n != b->n || a->crl_number != b->crl_number)
        abort();
    for (i = 0; i < a->n; i++) {
        const struct cm_entry *x = &a->certs[i], *y = &b->certs[i];
        if (strcmp(x->serial, y->serial) != 0 || strcmp(x->name, y->name) != 0 ||
            x->not_before != y->not_before || x->not_after != y->not_after ||
            x->status != y->status || cm_sans_count(&x->sans) != cm_sans_count(&y->sans))
            abort();
        if (x->status == CM_STATUS_REVOKED &&
            (x->revoked_at != y->revoked_at || x->reason != y->reason))
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cm_index idx, again;
    char *text = NULL;
    size_t len = 0;

    cm_err_clear();
    if (cm_index_parse((const char *)data, size, "fuzz", &idx) != PC_OK) {
        if (cm_err_get() == NULL)
            abort(); /* every refusal has a reason */
        return 0;
    }
    if (cm_index_dump(&idx, &text, &len) != PC_OK)
        abort();
    if (cm_index_parse(text, len, "fuzz", &again) != PC_OK)
        abort(); /* we wrote something we cannot read */
    same_or_abort(&idx, &again);
    free(text);
    cm_index_clear(&idx);
    cm_index_clear(&again);
    return 0;
}
