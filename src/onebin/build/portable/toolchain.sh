#!/bin/sh
# Build CPython and the native libraries it loads, from the Debian source packages
# unpacked in $SOURCES, into $PREFIX. Runs as root inside the old-glibc build root
# (onebin.build.portable.root); `onebin build --portable` keys its cache on this
# file's text, so any change here rebuilds the toolchain.
#
# Why each choice, in order of the build:
# - A header forced into every C compile (-include) binds the five libm functions
#   that glibc 2.29 versioned anew (exp, exp2, log, log2, pow) to their original
#   version, so nothing built here needs a glibc newer than 2.28 although the
#   build root's is 2.31. sem_clockwait (2.30) is switched off in CPython's
#   configure instead: CPython falls back to sem_timedwait.
# - Shared libraries under $PREFIX/lib, found through an rpath: PyInstaller
#   collects exactly what the extension modules link, nothing from the build root.
# - bzip2 has no installable shared library in its Makefile, so its static one
#   (built with -fPIC) is linked into the _bz2 module.
# - OpenSSL's directory stays /etc/ssl, where Debian, Ubuntu and SUSE keep the
#   CA store; the server's own TLS never reads it, and outbound ACME uses certifi.
set -eu

: "${SOURCES:?}" "${PREFIX:?}" "${JOBS:=2}"
# The same paths and dates on every machine, so that two builds of one lock compile
# the same bytes: paths end up in the binaries (__FILE__), and gcc, OpenSSL and
# CPython take their build dates from SOURCE_DATE_EPOCH.
WORK=/tmp/toolchain
rm -rf "$WORK" && mkdir -p "$WORK"
COMPAT=$WORK/glibc-compat.h
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}"

case "$(uname -m)" in
    x86_64) BASE=GLIBC_2.2.5 ;;
    aarch64) BASE=GLIBC_2.17 ;;
    *) echo "toolchain.sh: no glibc base version known for $(uname -m)" >&2; exit 1 ;;
esac
{
    echo "#ifndef __ASSEMBLER__"  # also forced into assembler sources (libffi's)
    for function in exp exp2 log log2 pow; do
        echo "__asm__(\".symver $function,$function@$BASE\");"
    done
    echo "#endif"
} > "$COMPAT"

export CFLAGS="-O2 -fPIC -include $COMPAT"
export CPPFLAGS="-I$PREFIX/include"
export LDFLAGS="-L$PREFIX/lib -Wl,-rpath,$PREFIX/lib"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
mkdir -p "$PREFIX/lib" "$PREFIX/include"

# A fresh copy of one unpacked source package, built out of the shared tree.
fresh() {
    rm -rf "${WORK:?}/$1"
    cp -a "$SOURCES/$1" "$WORK/$1"
    cd "$WORK/$1"
}

fresh zlib
./configure --prefix="$PREFIX" --libdir="$PREFIX/lib"
make -j"$JOBS"
make install

fresh bzip2
make -j"$JOBS" libbz2.a CFLAGS="$CFLAGS -D_FILE_OFFSET_BITS=64"
cp libbz2.a "$PREFIX/lib/"
cp bzlib.h "$PREFIX/include/"

fresh xz-utils
./configure --prefix="$PREFIX" --libdir="$PREFIX/lib" --disable-static --disable-nls \
    --disable-doc --disable-scripts --disable-xz --disable-xzdec --disable-lzmadec \
    --disable-lzmainfo --disable-lzma-links
make -j"$JOBS"
make install

fresh libffi
./configure --prefix="$PREFIX" --libdir="$PREFIX/lib" --disable-static --disable-docs \
    --disable-multi-os-directory
make -j"$JOBS"
make install

# Debian's expat source is upstream's repository: configure is generated here, as
# Debian's own build does (its patches test "XML_DTD == 1", which CMake's config
# header would leave empty).
fresh expat
cd expat
./buildconf.sh >/dev/null 2>&1
./configure --prefix="$PREFIX" --libdir="$PREFIX/lib" --disable-static --without-docbook \
    --without-examples --without-tests --without-xmlwf
make -j"$JOBS"
make install

# Debian's compile options for libsqlite3, plus FTS5 (its configure flag).
fresh sqlite3
CFLAGS="$CFLAGS -DSQLITE_SECURE_DELETE -DSQLITE_ENABLE_COLUMN_METADATA \
    -DSQLITE_ENABLE_FTS3 -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_RTREE=1 \
    -DSQLITE_SOUNDEX=1 -DSQLITE_ENABLE_UNLOCK_NOTIFY -DSQLITE_ENABLE_DBSTAT_VTAB \
    -DSQLITE_ENABLE_UPDATE_DELETE_LIMIT=1 -DSQLITE_ENABLE_LOAD_EXTENSION \
    -DSQLITE_ENABLE_JSON1 -DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_THREADSAFE=1 \
    -DSQLITE_USE_URI=1 -DSQLITE_MAX_SCHEMA_RETRY=25 -DSQLITE_ENABLE_STMTVTAB \
    -DSQLITE_MAX_VARIABLE_NUMBER=250000" \
    ./configure --prefix="$PREFIX" --libdir="$PREFIX/lib" --disable-static \
    --enable-fts5 --disable-tcl --disable-readline
make -j"$JOBS"
make install

# OpenSSL's own optimisation flags, not the ones above: CFLAGS would replace them.
fresh openssl
CFLAGS= ./Configure --prefix="$PREFIX" --libdir=lib --openssldir=/etc/ssl shared no-tests \
    no-docs -include "$COMPAT" -Wl,-rpath,"$PREFIX/lib"
make -j"$JOBS" build_libs
make install_dev

# No pip in the interpreter's own prefix (Debian's ensurepip refuses it there): each
# virtualenv gets its own from venv.
# Upstream 3.11.3 and later define Py_BUILD_CORE_MODULE in pyexpat.c themselves;
# without it, Debian's patched 3.11.2 does not build the module through setup.py.
fresh python3.11
sed -i '1i #ifndef Py_BUILD_CORE_BUILTIN\n#  define Py_BUILD_CORE_MODULE 1\n#endif' Modules/pyexpat.c
./configure --prefix="$PREFIX" --enable-shared --with-openssl="$PREFIX" \
    --with-openssl-rpath="$PREFIX/lib" --with-system-expat --without-ensurepip \
    --disable-test-modules ac_cv_func_sem_clockwait=no
make -j"$JOBS"
make install
"$PREFIX/bin/python3.11" -c 'import ssl, sqlite3, pyexpat, zlib, bz2, lzma, ctypes, hashlib
print(ssl.OPENSSL_VERSION, "| SQLite", sqlite3.sqlite_version, "|", pyexpat.EXPAT_VERSION)'

cd /
rm -rf "$WORK"
