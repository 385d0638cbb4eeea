/** Types for the Prometheus text-format parser used by the tests (the package ships none). */
declare module "parse-prometheus-text-format" {
  /** One sample of a family: a value with labels (histograms and summaries have more fields). */
  export interface Sample {
    value?: string;
    labels?: Record<string, string>;
  }
  /** A metric family as exposed: name, help, type and samples. */
  export interface Family {
    name: string;
    help: string;
    type: string;
    metrics: Sample[];
  }
  /** Parses the Prometheus text exposition format; throws on what is not. */
  export default function parsePrometheusTextFormat(text: string): Family[];
}
