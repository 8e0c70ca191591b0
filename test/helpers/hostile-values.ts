/**
 * The injection corpus: values that would run `touch <pwned>` if any of them were read as
 * shell syntax (command substitution, backticks, separators, newlines, quotes, here-document
 * delimiters). Used by the command-template tests and by the ticket tests, where every option
 * value must reach the main task literally.
 */
export function hostileValues(pwned: string): string[] {
  return [
    `'; touch ${pwned} #`,
    `$(touch ${pwned})`,
    `\`touch ${pwned}\``,
    `"; touch ${pwned}; echo "`,
    `\\"; touch ${pwned}; echo \\"`,
    `a\ntouch ${pwned}\nb`,
    `x' ; touch ${pwned}; echo 'y`,
    `\${IFS}$(touch${'${IFS}'}${pwned})`,
    `*`,
    `-n`,
    `$HOME \\ \\\\ \\$ {} {x} {{y}} ~ !! %s`,
    `EOF\ntouch ${pwned}\nEOF`,
  ];
}
