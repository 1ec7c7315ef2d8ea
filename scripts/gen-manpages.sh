#!/bin/sh
# gen-manpages.sh - shell completion scripts and man pages made from autodist's own help text
# usage: gen-manpages.sh AUTODIST_BINARY OUT_DIR   (CMake runs it at build time; OUT_DIR/share
# then holds man/man1/autodist*.1, bash-completion/completions/autodist, zsh/site-functions/_autodist)
set -eu
bin=$1
out=$2
mkdir -p "$out/man/man1" "$out/bash-completion/completions" "$out/zsh/site-functions"
"$bin" completion bash >"$out/bash-completion/completions/autodist"
"$bin" completion zsh >"$out/zsh/site-functions/_autodist"
"$bin" help --man >"$out/man/man1/autodist.1"
# The commands are those `autodist --help` lists, one page each.
for cmd in $("$bin" --help | awk '/^commands:/ { on = 1; next } on && NF == 0 { exit } on { print $1 }'); do
    "$bin" help --man "$cmd" >"$out/man/man1/autodist-$cmd.1"
done
touch "$out/.generated"
