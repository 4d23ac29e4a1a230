# Build-time script: writes the man page of one program with help2man from the program's own
# --help and --version (its CLI11 option definitions are the one source of the option list) plus
# packaging/man/<program>.h2m (the prose: description, files, examples, see also). For a program
# with subcommands, each `<program> <sub> --help` becomes a subsection of SUBCOMMANDS.
# Expects: HELP2MAN, PROGRAM (path of the built program), SECTION, NAME_LINE, INCLUDE, OUTPUT,
# SUBCOMMANDS (;-list, may be empty).
get_filename_component(dir ${PROGRAM} DIRECTORY)
get_filename_component(prog ${PROGRAM} NAME)
# Run it by its bare name through PATH, so that "Usage:" shows the name and not a build path,
# and show the default socket as $XDG_RUNTIME_DIR/..., not as the builder's.
set(ENV{PATH} "${dir}:$ENV{PATH}")
set(ENV{XDG_RUNTIME_DIR} "$XDG_RUNTIME_DIR")

set(include ${OUTPUT}.h2m)
file(READ ${INCLUDE} prose)
if(SUBCOMMANDS)
  string(APPEND prose "\n[SUBCOMMANDS]\n")
  foreach(sub IN LISTS SUBCOMMANDS)
    execute_process(COMMAND ${prog} ${sub} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "${prog} ${sub} --help failed (${rc})")
    endif()
    # roff: a backslash is \e; a line must not start with . or '
    string(REPLACE "\\" "\\e" help "${help}")
    string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
    string(APPEND prose ".SS ${sub}\n.nf\n${help}.fi\n")
  endforeach()
endif()
file(WRITE ${include} "${prose}")

execute_process(
  COMMAND ${HELP2MAN} --no-info --section=${SECTION} --name=${NAME_LINE} --include=${include}
          --output=${OUTPUT} ${prog}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man ${prog}: ${err}")
endif()
