#!/bin/sh
# make lint: formatting, banned functions, and raw allocation outside common/.
set -u
cd "$(dirname "$0")/.."
fail=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null; git ls-files --others --exclude-standard '*.c' '*.h' 2>/dev/null)
files=$(printf '%s\n' $files | sort -u)

if ! clang-format --dry-run -Werror $files >/dev/null 2>&1; then
    echo "lint: these files need clang-format -i (make format):"
    for f in $files; do
        clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "    $f"
    done
    fail=1
fi

# Functions with no bounds, or with hidden state, have safer replacements.
banned='\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets)[[:space:]]*\('
if printf '%s\n' $files | xargs grep -nE "$banned" | grep -v '^tests/'; then
    echo "lint: banned functions above (use snprintf, strtoul, memcpy with bounds)"
    fail=1
fi

# Allocation goes through common/mem.h so caps, fault injection and leak
# counts see it.
raw='(^|[^_a-z])(malloc|calloc|realloc|free|strdup|strndup)[[:space:]]*\('
if printf '%s\n' $files | grep -vE '^(common/|tests/|bench/)' | xargs grep -nE "$raw" | grep -vE 'sodium_|_free\(|xfree|pcre2_|yaml_'; then
    echo "lint: raw allocation above outside common/ (use xmalloc/xfree or an arena)"
    fail=1
fi

if [ $fail -eq 0 ]; then
    echo "lint: 1 passed, 0 failed"
else
    echo "lint: 0 passed, 1 failed"
fi
exit $fail
