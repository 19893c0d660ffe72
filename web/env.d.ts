/** The widget imports its stylesheet as text (esbuild's text loader) to put it in its shadow root. */
declare module '*.css' {
  const css: string;
  export default css;
}
