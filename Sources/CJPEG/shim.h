// libjpeg-turbo (`apt-get install libjpeg62-turbo-dev`), for JPEG datasets (CIFAR-10 JPEG copy).
//
// libjpeg reports fatal errors by calling error_exit, which by default prints and exits the
// process. `sane_jpeg_decode_rgb` installs an error handler that longjmps back and returns the
// library's message instead, so a corrupt image is a one-line error, never an exit.
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <string.h>
#include <jpeglib.h>

struct sane_jpeg_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void sane_jpeg_error_exit(j_common_ptr cinfo) {
    struct sane_jpeg_error *e = (struct sane_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}

/// Warnings (corrupt but decodable data) are counted in num_warnings, not printed.
static void sane_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

/// Decodes the JPEG `data[0..<size]` with the library defaults (ISLOW IDCT, fancy upsampling)
/// to 8-bit RGB, rows top to bottom, pixels interleaved (HWC), into `out` (`capacity` bytes).
/// Returns 0 and sets *width, *height on success; otherwise a non-zero code and a message:
/// 1 libjpeg error, 2 image larger than `capacity`, 3 decoded with warnings (corrupt data).
static inline int sane_jpeg_decode_rgb(const unsigned char *data, unsigned long size,
                                       unsigned char *out, size_t capacity, int *width, int *height,
                                       char *message, size_t messageSize) {
    struct jpeg_decompress_struct cinfo;
    struct sane_jpeg_error err;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = sane_jpeg_error_exit;
    err.base.output_message = sane_jpeg_output_message;
    err.message[0] = 0;
    if (setjmp(err.jump)) {
        snprintf(message, messageSize, "%s", err.message);
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    size_t rowBytes = (size_t)cinfo.output_width * 3;
    if (cinfo.output_components != 3 || rowBytes * cinfo.output_height > capacity) {
        snprintf(message, messageSize, "image is %ux%u with %d components, expected at most %zu RGB bytes",
                 cinfo.output_width, cinfo.output_height, cinfo.output_components, capacity);
        jpeg_destroy_decompress(&cinfo);
        return 2;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out + (size_t)cinfo.output_scanline * rowBytes;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    long warnings = cinfo.err->num_warnings;
    jpeg_destroy_decompress(&cinfo);
    if (warnings > 0) {
        snprintf(message, messageSize, "corrupt JPEG data (%ld warnings while decoding)", warnings);
        return 3;
    }
    return 0;
}
