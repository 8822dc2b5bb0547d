/* libFuzzer harness: arbitrary bytes as the server's input stream (framing, JSON-RPC, the
 * session state machine), prefixed half the time with a valid initialize so the fuzzer
 * reaches document handling. Output goes to /dev/null. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "eqlint/lsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char init[] =
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"capabilities\":{}}}";
  static FILE *quiet;
  if (!quiet) quiet = fopen("/dev/null", "w");
  int in = memfd_create("lsp-in", 0);
  int out = open("/dev/null", O_WRONLY);
  if (in < 0 || out < 0) {
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    return 0;
  }
  if (size && (data[0] & 1)) {
    char hdr[64];
    int n = snprintf(hdr, sizeof hdr, "Content-Length: %zu\r\n\r\n", sizeof init - 1);
    if (write(in, hdr, (size_t)n) != n || write(in, init, sizeof init - 1) < 0) goto done;
  }
  if (write(in, data, size) < 0) goto done;
  lseek(in, 0, SEEK_SET);
  eql_lsp_options opts = {quiet, 0, (size_t)1 << 20};
  (void)eql_lsp_serve(in, out, &opts);
done:
  close(in);
  close(out);
  return 0;
}
