// SVG files imported by the TypeScript source are strings (JupyterLab's builder loads them as sources).
declare module '*.svg' {
  const svgstr: string;
  export default svgstr;
}
