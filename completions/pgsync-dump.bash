_pgsync__dump() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="pgsync__dump"
                ;;
            pgsync__dump,analyze)
                cmd="pgsync__dump__subcmd__analyze"
                ;;
            pgsync__dump,dmesg)
                cmd="pgsync__dump__subcmd__dmesg"
                ;;
            pgsync__dump,extract)
                cmd="pgsync__dump__subcmd__extract"
                ;;
            pgsync__dump,help)
                cmd="pgsync__dump__subcmd__help"
                ;;
            pgsync__dump,info)
                cmd="pgsync__dump__subcmd__info"
                ;;
            pgsync__dump,tasks)
                cmd="pgsync__dump__subcmd__tasks"
                ;;
            pgsync__dump,vtop)
                cmd="pgsync__dump__subcmd__vtop"
                ;;
            pgsync__dump__subcmd__help,analyze)
                cmd="pgsync__dump__subcmd__help__subcmd__analyze"
                ;;
            pgsync__dump__subcmd__help,dmesg)
                cmd="pgsync__dump__subcmd__help__subcmd__dmesg"
                ;;
            pgsync__dump__subcmd__help,extract)
                cmd="pgsync__dump__subcmd__help__subcmd__extract"
                ;;
            pgsync__dump__subcmd__help,help)
                cmd="pgsync__dump__subcmd__help__subcmd__help"
                ;;
            pgsync__dump__subcmd__help,info)
                cmd="pgsync__dump__subcmd__help__subcmd__info"
                ;;
            pgsync__dump__subcmd__help,tasks)
                cmd="pgsync__dump__subcmd__help__subcmd__tasks"
                ;;
            pgsync__dump__subcmd__help,vtop)
                cmd="pgsync__dump__subcmd__help__subcmd__vtop"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        pgsync__dump)
            opts="-q -h -V --quiet --help --version analyze info dmesg tasks extract vtop help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__analyze)
            opts="-q -h --live --vmlinux --offline --debuginfo --system-map --btf --format --pid --replay --sync-mask --jobs --timeout --quiet --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --vmlinux)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --debuginfo)
                    COMPREPLY=($(compgen -W "auto dwarf btf" -- "${cur}"))
                    return 0
                    ;;
                --system-map)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --btf)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --format)
                    COMPREPLY=($(compgen -W "table json jsonl" -- "${cur}"))
                    return 0
                    ;;
                --pid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --sync-mask)
                    COMPREPLY=($(compgen -W "pgd p4d none" -- "${cur}"))
                    return 0
                    ;;
                --jobs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__dmesg)
            opts="-q -h --live --vmlinux --offline --debuginfo --system-map --btf --quiet --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --vmlinux)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --debuginfo)
                    COMPREPLY=($(compgen -W "auto dwarf btf" -- "${cur}"))
                    return 0
                    ;;
                --system-map)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --btf)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__extract)
            opts="-o -q -h --live --vmlinux --offline --debuginfo --system-map --btf --output --kdump --quiet --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --vmlinux)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --debuginfo)
                    COMPREPLY=($(compgen -W "auto dwarf btf" -- "${cur}"))
                    return 0
                    ;;
                --system-map)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --btf)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --output)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -o)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__help)
            opts="analyze info dmesg tasks extract vtop help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__help__subcmd__analyze)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__help__subcmd__dmesg)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__help__subcmd__extract)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__help__subcmd__help)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__help__subcmd__info)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__help__subcmd__tasks)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__help__subcmd__vtop)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__info)
            opts="-q -h --live --vmlinux --offline --debuginfo --system-map --btf --format --quiet --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --vmlinux)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --debuginfo)
                    COMPREPLY=($(compgen -W "auto dwarf btf" -- "${cur}"))
                    return 0
                    ;;
                --system-map)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --btf)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --format)
                    COMPREPLY=($(compgen -W "table json" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__tasks)
            opts="-q -h --live --vmlinux --offline --debuginfo --system-map --btf --format --quiet --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --vmlinux)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --debuginfo)
                    COMPREPLY=($(compgen -W "auto dwarf btf" -- "${cur}"))
                    return 0
                    ;;
                --system-map)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --btf)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --format)
                    COMPREPLY=($(compgen -W "table json" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        pgsync__subcmd__dump__subcmd__vtop)
            opts="-q -h --pid --vmlinux --offline --debuginfo --system-map --btf --quiet --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --pid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --vmlinux)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --debuginfo)
                    COMPREPLY=($(compgen -W "auto dwarf btf" -- "${cur}"))
                    return 0
                    ;;
                --system-map)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --btf)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _pgsync__dump -o nosort -o bashdefault -o default pgsync-dump
else
    complete -F _pgsync__dump -o bashdefault -o default pgsync-dump
fi
