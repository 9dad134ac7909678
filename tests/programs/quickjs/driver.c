/* Evaluates the JavaScript program on standard input with QuickJS-NG and prints the JSON of its
 * completion value; an exception is printed on stderr with exit status 1. A fixture of the
 * compile-budget tests: a large interpreter built for WASI (docs/testing.md, "Real programs"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "quickjs.h"

static char *read_all(FILE *in, size_t *len) {
    size_t cap = 1 << 16, n;
    char *text = malloc(cap);
    *len = 0;
    while (text && (n = fread(text + *len, 1, cap - *len - 1, in)) > 0) {
        *len += n;
        if (*len + 1 == cap) {
            cap *= 2;
            text = realloc(text, cap);
        }
    }
    if (text) text[*len] = 0;
    return text;
}

static int print_exception(JSContext *ctx) {
    JSValue exception = JS_GetException(ctx);
    const char *text = JS_ToCString(ctx, exception);
    fprintf(stderr, "%s\n", text ? text : "exception");
    JS_FreeCString(ctx, text);
    JS_FreeValue(ctx, exception);
    return 1;
}

int main(void) {
    size_t len;
    char *source = read_all(stdin, &len);
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = rt ? JS_NewContext(rt) : NULL;
    if (!source || !ctx) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    JSValue result = JS_Eval(ctx, source, len, "<stdin>", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(result)) return print_exception(ctx);
    JSValue json = JS_JSONStringify(ctx, result, JS_UNDEFINED, JS_NewInt32(ctx, 2));
    if (JS_IsException(json)) return print_exception(ctx);
    const char *text = JS_ToCString(ctx, json);
    printf("%s\n", text ? text : "undefined");
    JS_FreeCString(ctx, text);
    JS_FreeValue(ctx, json);
    JS_FreeValue(ctx, result);
    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
    free(source);
    return 0;
}
