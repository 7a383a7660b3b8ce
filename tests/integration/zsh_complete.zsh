# zsh -f zsh_complete.zsh FPATH_DIR OUT LINE...: completes each LINE in an
# interactive zsh (on a zsh/zpty pseudo-terminal) the way Tab does, with
# compinit's completion system and FPATH_DIR first in $fpath, and appends to
# the file OUT every candidate the completion functions added, one a line,
# then the line <ZCEND>.
zmodload zsh/zpty || exit 3
dir=$1 out=$2
shift 2
zpty z zsh -f -i
# No prompt, no listing (it could wait for a key); candidates recorded by a
# compadd that passes everything through to the builtin.
zpty -w z "PS1='' RPS1=''; unsetopt auto_list list_ambiguous zle_bracketed_paste"
zpty -w z "fpath=(${(q)dir} \$fpath); autoload -Uz compinit && compinit -u -D"
# (No tab in what is written: it would complete.)
zpty -w z "compadd() { if [[ \${@[1,(i)(-|--)]} != *-(O|A|D)\\ * ]]; then
  local -a hits; builtin compadd -O hits \"\$@\"; (( \$#hits )) && print -rl -- \$hits >> ${(q)out}
fi; builtin compadd \"\$@\"; }"
zpty -w z "_zc_tab() { zle complete-word; print -n '<ZC''DONE>'; zle send-break }"
zpty -w z "zle -N _zc_tab; bindkey '^I' _zc_tab; echo '<ZC''READY>'"
zpty -r z seen '*<ZCREADY>*' || exit 4
for line; do
	zpty -w -n z "$line"$'\t'
	zpty -r z seen '*<ZCDONE>*' || exit 5
	print -r -- '<ZCEND>' >>$out
done
zpty -d z
