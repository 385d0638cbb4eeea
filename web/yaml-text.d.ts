/** A YAML file imported as its text (esbuild's "text" loader, orchestrator/web.ts). */
declare module "*.yaml" {
  const text: string;
  export default text;
}
