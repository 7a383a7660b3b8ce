# bash completion for aos-publishctl                      -*- shell-script -*-
# Commands and options from the program's --help; registry and pipeline
# names and secret keys from the running daemon's status, job ids from its
# job list (both
# asked with a 2 s timeout; nothing is offered when the daemon is not
# reachable).  Installed as /usr/share/bash-completion/completions/aos-publishctl.

# _aos_publishctl_ask WHAT: the socket options already typed, then the
# daemon's JSON answer to `aos-publishctl --json WHAT...`.
_aos_publishctl_ask()
{
	local i sock=()
	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		case ${COMP_WORDS[i]} in
		-s | --socket) sock=(--socket "${COMP_WORDS[i + 1]}") ;;
		--socket=*) sock=("${COMP_WORDS[i]}") ;;
		esac
	done
	"${AOS_PUBLISHCTL:-aos-publishctl}" "${sock[@]}" --json --timeout 2 "$@" 2>/dev/null
}

# _aos_publishctl_names FIELD: the strings of the status's array FIELD.
_aos_publishctl_names()
{
	_aos_publishctl_ask status |
		grep -o "\"$1\":\[[^]]*\]" | grep -o '"[^"]*"' | tail -n +2 | tr -d '"'
}

_aos_publishctl_secret_keys()
{
	_aos_publishctl_ask status | grep -o '"key":"[^"]*"' | cut -d'"' -f4
}

_aos_publishctl_job_ids()
{
	_aos_publishctl_ask jobs --limit 100 | grep -o '"id":[0-9]*' | cut -d: -f2
}

_aos_publishctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="status secrets publish jobs job drain resume reconcile prune"
	local global="-s --socket -j --json -t --timeout -h --help -V --version"
	local i cmd="" sub="" ncmd=0
	COMPREPLY=()

	# The command (the first word that is not an option or its argument)
	# and the word after it.
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-s | --socket | -t | --timeout)
			[ -z "$cmd" ] && ((i++))
			continue
			;;
		-*) continue ;;
		esac
		if [ -z "$cmd" ]; then
			cmd=${COMP_WORDS[i]}
		elif [ -z "$sub" ]; then
			sub=${COMP_WORDS[i]}
		fi
		((ncmd++))
	done

	case $prev in
	-s | --socket)
		[ -z "$cmd" ] && { COMPREPLY=($(compgen -f -- "$cur")); return 0; }
		;;
	-t | --timeout) [ -z "$cmd" ] && return 0 ;;
	-r | --registry)
		COMPREPLY=($(compgen -W "$(_aos_publishctl_names registries)" -- "$cur"))
		return 0
		;;
	--state)
		COMPREPLY=($(compgen -W "queued running succeeded failed dead canceled" -- "$cur"))
		return 0
		;;
	--tag | --version | -k | --idempotency-key | --limit | --host) return 0 ;;
	esac

	case $cmd in
	"")
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$global" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		;;
	secrets)
		if [ "$ncmd" -eq 1 ]; then
			COMPREPLY=($(compgen -W "refresh fingerprint check" -- "$cur"))
		elif [ "$ncmd" -eq 2 ] && [ "$sub" = check ]; then
			COMPREPLY=($(compgen -W "$(_aos_publishctl_secret_keys)" -- "$cur"))
		fi
		;;
	publish)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--registry --tag --version --dry-run --wait
				--idempotency-key --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -f -X '!*.@(whl|tar.gz|zip|tgz)' -- "$cur")
				$(compgen -d -- "$cur"))
		fi
		;;
	jobs) COMPREPLY=($(compgen -W "--state --limit" -- "$cur")) ;;
	job)
		if [ "$ncmd" -eq 1 ] && [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--help" -- "$cur"))
		elif [ "$ncmd" -eq 1 ]; then
			COMPREPLY=($(compgen -W "show log wait retry cancel" -- "$cur"))
		elif [[ $cur == -* ]]; then
			local opts="--escape --raw"
			[ "$sub" = log ] && opts+=" --follow"
			COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		elif [ "$ncmd" -eq 2 ]; then
			COMPREPLY=($(compgen -W "$(_aos_publishctl_job_ids)" -- "$cur"))
		fi
		;;
	prune)
		[[ $cur == -* ]] && COMPREPLY=($(compgen -W "--dry-run" -- "$cur"))
		;;
	drain | resume)
		[[ $cur == -* ]] && COMPREPLY=($(compgen -W "--host --this-host --help" -- "$cur"))
		;;
	reconcile)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--dry-run" -- "$cur"))
		elif [ "$ncmd" -eq 1 ]; then
			COMPREPLY=($(compgen -W "$(_aos_publishctl_names pipelines)" -- "$cur"))
		fi
		;;
	esac
	return 0
}
complete -F _aos_publishctl aos-publishctl
