/* rANS coding of integer symbols under per-symbol quantized CDFs, in the stream format of CompressAI's
 * RansEncoder / RansDecoder (a 64-bit state emitting 32-bit little-endian words, 16-bit probabilities,
 * an escape symbol followed by the value in 4-bit bypass chunks), so that streams are interchangeable.
 *
 * Unlike a coder that trusts its input, the decoder here is safe for any byte string: every word it reads
 * is inside the string (reading past its end is reported as an error), every table access is checked
 * against the row's length, bypass runs are bounded by what a 32-bit value needs, and the work is linear
 * in the number of symbols. Built at first use by jpegdl/edic/rans.py and called through ctypes.
 *
 * Tables: the CDF rows are stored back to back in `cdfs` (int32); row r starts at `row_start[r]`, holds
 * `lengths[r]` entries rising from 0 to 1 << 16 (its last symbol is the escape), and its symbol 0 is the
 * integer `offsets[r]`. Symbol i is coded with row `indexes[i]`.
 */
#include <stdint.h>
#include <string.h>

#define PRECISION 16
#define BYPASS_BITS 4
#define BYPASS_MAX 15 /* (1 << BYPASS_BITS) - 1 */
#define STATE_LOW (1ull << 31)
#define MAX_BYPASS_CHUNKS 8 /* a 32-bit raw value needs at most 8 chunks of 4 bits */

enum {
    RANS_OK = 0,
    RANS_BAD_TABLE = -1,    /* an index or a row outside the tables, or a row that is not a valid CDF */
    RANS_SHORT = -2,        /* the string ended before the symbols asked for */
    RANS_BAD_BYPASS = -3,   /* an escaped value longer than 32 bits */
    RANS_NO_SPACE = -4,     /* the output buffer is too small */
    RANS_BAD_VALUE = -5     /* a symbol too far from its row to code */
};

typedef struct {
    const uint8_t *bytes;
    int64_t count; /* whole 32-bit words in the string */
    int64_t next;
    uint64_t state;
} Reader;

static int read_word(Reader *r, uint32_t *word) {
    if (r->next >= r->count) return RANS_SHORT;
    memcpy(word, r->bytes + 4 * r->next++, 4); /* the string need not be 4-byte aligned */
    return RANS_OK;
}

static int refill(Reader *r) {
    if (r->state < STATE_LOW) {
        uint32_t word;
        if (read_word(r, &word) != RANS_OK) return RANS_SHORT;
        r->state = (r->state << 32) | word;
    }
    return RANS_OK;
}

static int get_bits(Reader *r, uint32_t *value) {
    *value = (uint32_t)(r->state & BYPASS_MAX);
    r->state >>= BYPASS_BITS;
    return refill(r);
}

static int valid_row(int64_t cdfs_size, const int64_t *row_start, const int32_t *lengths, int64_t row) {
    int64_t start = row_start[row];
    int32_t length = lengths[row];
    if (length < 3 || start < 0 || start > cdfs_size - length) return 0;
    return 1;
}

/* Checks every row once: starts at 0, ends at 1 << PRECISION, strictly increasing. */
static int check_tables(const int32_t *cdfs, int64_t cdfs_size, const int64_t *row_start, const int32_t *lengths,
                        int64_t rows) {
    for (int64_t r = 0; r < rows; ++r) {
        if (!valid_row(cdfs_size, row_start, lengths, r)) return RANS_BAD_TABLE;
        const int32_t *cdf = cdfs + row_start[r];
        if (cdf[0] != 0 || cdf[lengths[r] - 1] != (1 << PRECISION)) return RANS_BAD_TABLE;
        for (int32_t j = 1; j < lengths[r]; ++j)
            if (cdf[j] <= cdf[j - 1]) return RANS_BAD_TABLE;
    }
    return RANS_OK;
}

/* Decodes `count` symbols from `data` (`size` bytes, a multiple of 4) into `out`. Returns RANS_OK or a
 * negative error; never reads outside `data` or the tables. */
int jpegdl_rans_decode(const uint8_t *data, int64_t size, const int32_t *cdfs, int64_t cdfs_size,
                       const int64_t *row_start, const int32_t *lengths, const int32_t *offsets, int64_t rows,
                       const int64_t *indexes, int64_t count, int32_t *out) {
    int status = check_tables(cdfs, cdfs_size, row_start, lengths, rows);
    if (status != RANS_OK) return status;
    if (size % 4) return RANS_SHORT;
    Reader reader = {data, size / 4, 0, 0};
    uint32_t low, high;
    if (read_word(&reader, &low) != RANS_OK || read_word(&reader, &high) != RANS_OK) return RANS_SHORT;
    reader.state = ((uint64_t)high << 32) | low;
    const uint32_t mask = (1u << PRECISION) - 1;
    for (int64_t i = 0; i < count; ++i) {
        int64_t row = indexes[i];
        if (row < 0 || row >= rows) return RANS_BAD_TABLE;
        const int32_t *cdf = cdfs + row_start[row];
        const int32_t escape = lengths[row] - 2;
        const uint32_t slot = (uint32_t)(reader.state & mask);
        int32_t symbol = 0;
        while (symbol < escape && (uint32_t)cdf[symbol + 1] <= slot) ++symbol;
        const uint32_t start = (uint32_t)cdf[symbol], frequency = (uint32_t)(cdf[symbol + 1] - cdf[symbol]);
        reader.state = frequency * (reader.state >> PRECISION) + (reader.state & mask) - start;
        if (refill(&reader) != RANS_OK) return RANS_SHORT;
        int64_t value = symbol;
        if (symbol == escape) {
            uint32_t chunk, chunks = 0;
            do {
                if (get_bits(&reader, &chunk) != RANS_OK) return RANS_SHORT;
                chunks += chunk;
                if (chunks > MAX_BYPASS_CHUNKS) return RANS_BAD_BYPASS;
            } while (chunk == BYPASS_MAX);
            uint64_t raw = 0;
            for (uint32_t j = 0; j < chunks; ++j) {
                if (get_bits(&reader, &chunk) != RANS_OK) return RANS_SHORT;
                raw |= (uint64_t)chunk << (j * BYPASS_BITS);
            }
            value = (raw & 1) ? -(int64_t)(raw >> 1) - 1 : (int64_t)(raw >> 1) + escape;
        }
        out[i] = (int32_t)(value + offsets[row]);
    }
    return RANS_OK;
}

typedef struct {
    uint32_t start;
    uint32_t frequency;
    uint8_t bits; /* PRECISION for a coded symbol, BYPASS_BITS for a bypass chunk */
} Step;

int64_t jpegdl_rans_step_size(void) { return (int64_t)sizeof(Step); }

static void put(uint64_t *state, uint32_t **cursor, const Step *step) {
    uint64_t limit = ((STATE_LOW >> PRECISION) << 32) * step->frequency;
    if (step->bits == BYPASS_BITS) limit = ((STATE_LOW >> 16) << 32) * (1u << (16 - BYPASS_BITS));
    if (*state >= limit) {
        *--*cursor = (uint32_t)*state;
        *state >>= 32;
    }
    if (step->bits == BYPASS_BITS)
        *state = (*state << BYPASS_BITS) | step->start;
    else
        *state = ((*state / step->frequency) << PRECISION) + (*state % step->frequency) + step->start;
}

/* Encodes `count` symbols; `steps` is scratch space for `step_capacity` steps (at most 11 per symbol),
 * `out` receives the string at its end: returns its length in bytes (> 0) or a negative error. The
 * string is the last `length` bytes of `out` (`out_capacity` bytes, a multiple of 4). */
int64_t jpegdl_rans_encode(const int32_t *symbols, const int64_t *indexes, int64_t count, const int32_t *cdfs,
                           int64_t cdfs_size, const int64_t *row_start, const int32_t *lengths,
                           const int32_t *offsets, int64_t rows, void *steps_buffer, int64_t step_capacity,
                           uint8_t *out, int64_t out_capacity) {
    int status = check_tables(cdfs, cdfs_size, row_start, lengths, rows);
    if (status != RANS_OK) return status;
    Step *steps = (Step *)steps_buffer;
    int64_t used = 0;
    for (int64_t i = 0; i < count; ++i) {
        int64_t row = indexes[i];
        if (row < 0 || row >= rows) return RANS_BAD_TABLE;
        const int32_t *cdf = cdfs + row_start[row];
        const int32_t escape = lengths[row] - 2;
        int64_t value = (int64_t)symbols[i] - offsets[row];
        uint64_t raw = 0;
        if (value < 0) {
            raw = (uint64_t)(-2 * value - 1);
            value = escape;
        } else if (value >= escape) {
            raw = (uint64_t)(2 * (value - escape));
            value = escape;
        }
        if (raw >> 32) return RANS_BAD_VALUE;
        if (used + 11 > step_capacity) return RANS_NO_SPACE;
        steps[used++] = (Step){(uint32_t)cdf[value], (uint32_t)(cdf[value + 1] - cdf[value]), PRECISION};
        if (value == escape) {
            uint32_t chunks = 0;
            while (chunks < MAX_BYPASS_CHUNKS && (raw >> (chunks * BYPASS_BITS)) != 0) ++chunks;
            uint32_t left = chunks;
            while (left >= BYPASS_MAX) {
                steps[used++] = (Step){BYPASS_MAX, 1, BYPASS_BITS};
                left -= BYPASS_MAX;
            }
            steps[used++] = (Step){left, 1, BYPASS_BITS};
            for (uint32_t j = 0; j < chunks; ++j)
                steps[used++] = (Step){(uint32_t)((raw >> (j * BYPASS_BITS)) & BYPASS_MAX), 1, BYPASS_BITS};
        }
    }
    if (out_capacity % 4 || out_capacity / 4 < used + 2) return RANS_NO_SPACE;
    uint32_t *end = (uint32_t *)(out + out_capacity);
    uint32_t *cursor = end;
    uint64_t state = STATE_LOW;
    for (int64_t k = used - 1; k >= 0; --k) put(&state, &cursor, &steps[k]);
    *--cursor = (uint32_t)(state >> 32);
    *--cursor = (uint32_t)state;
    return (int64_t)(end - cursor) * 4;
}
