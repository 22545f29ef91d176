/**
 * The launch form's data, as pure functions: the one JSON schema that `FormComponent` renders (the
 * model's hyperparameters, the data module's options, a few Trainer options and the seed, all read from
 * the catalog and from the server's launch schema), the `POST runs` body built from what the form
 * holds, and the server's per-field errors mapped back onto the form's fields.
 */
import type { CatalogData, CatalogModel, JSONSchema, LaunchRequest } from './client';

/** The Trainer options the form offers (the rest keep Lightning's defaults). */
export const TRAINER_FIELDS = [
  'max_epochs',
  'devices',
  'accelerator',
  'strategy',
  'precision',
] as const;

const TRAINER_HELP: { [name: string]: string } = {
  max_epochs: 'passes over the training data',
  devices: "'auto', a number of devices (2) or device ids (0,1)",
  accelerator: "'auto' picks a GPU when there is one",
  strategy: "over several devices: 'ddp' copies the model to each, 'fsdp' shards it across them",
  precision: "'16-mixed' or 'bf16-mixed' train faster on GPUs",
};

/** Used when the server's OpenAPI document cannot be read: the same fields, less strictly typed. */
const FALLBACK_TRAINER: JSONSchema = {
  type: 'object',
  properties: {
    max_epochs: { type: 'integer', minimum: 1 },
    devices: { type: 'string' },
    accelerator: { type: 'string' },
    strategy: { type: 'string' },
    precision: { type: 'string' },
  },
};

export type FormData = {
  model_args: { [key: string]: unknown };
  data_args: { [key: string]: unknown };
  trainer_args: { [key: string]: unknown };
  seed: number;
  loggers?: string[];
};

export interface LaunchForm {
  /** the model and the data module it is the form of */
  model: string;
  data: string;
  /** the form's JSON schema: `{model_args, data_args, trainer_args, seed, loggers?}` */
  schema: JSONSchema;
  uiSchema: JSONSchema;
  /** what the form starts with (every field's default) */
  defaults: FormData;
}

/** A docstring's reST literals (``x``) as plain text. */
export function plainDescription(text: string): string {
  return text.replace(/``([^`]+)``/g, '$1');
}

function plainObjectSchema(schema: JSONSchema | undefined, title: string): JSONSchema {
  const properties: JSONSchema = {};
  for (const [name, prop] of Object.entries<JSONSchema>(schema?.properties ?? {})) {
    if (!prop.readOnly) {
      properties[name] = { ...prop };
      if (typeof prop.description === 'string') {
        properties[name].description = plainDescription(prop.description);
      }
    }
  }
  const out: JSONSchema = { type: 'object', title, properties };
  const required = (schema?.required ?? []).filter((name: string) => name in properties);
  if (required.length) {
    out.required = required;
  }
  return out;
}

/** Whether a property is a list of numbers (edited as `64, 32` in one box: `fields.tsx`). */
export function isNumberList(schema: JSONSchema | undefined): boolean {
  const itemType = schema?.items?.type;
  return schema?.type === 'array' && (itemType === 'integer' || itemType === 'number');
}

/** The rjsf field name (`ui:field`) of number lists; the form maps it to `NumberListField`. */
export const NUMBER_LIST_FIELD = 'numberList';

function defaultsOf(schema: JSONSchema): { [key: string]: unknown } {
  const values: { [key: string]: unknown } = {};
  for (const [name, prop] of Object.entries<JSONSchema>(schema.properties ?? {})) {
    if (prop.default !== undefined) {
      values[name] = structuredClone(prop.default);
    }
  }
  return values;
}

/**
 * The form for `model` trained on `data` (the model's default data when absent).
 *
 * `launchSchema` is the server's `LAUNCH_SCHEMA` (from its OpenAPI document): the Trainer options'
 * enums and bounds, the seed's range and the extra loggers come from it, never written twice.
 * Read-only hyperparameters (`input_shape`, `num_classes`: set from the data) are left out.
 */
export function buildLaunchForm(
  model: CatalogModel,
  data: CatalogData | undefined,
  launchSchema?: JSONSchema,
): LaunchForm {
  const modelSchema = plainObjectSchema(model.schema, `Model options (${model.name})`);
  const dataName = data?.name ?? model.data;
  const dataSchema = plainObjectSchema(data?.schema, `Data options (${dataName})`);
  if (dataName === model.data) {
    // the model's own options for its default data (e.g. lenet's 28x28 digits) are the defaults
    for (const [name, value] of Object.entries(model.data_defaults ?? {})) {
      if (dataSchema.properties[name]) {
        dataSchema.properties[name] = { ...dataSchema.properties[name], default: value };
      }
    }
  }

  const props = launchSchema?.properties ?? {};
  const serverTrainer: JSONSchema = props.trainer_args ?? FALLBACK_TRAINER;
  const trainerProps: JSONSchema = {};
  for (const name of TRAINER_FIELDS) {
    const prop: JSONSchema | undefined = serverTrainer.properties?.[name];
    if (!prop) {
      continue;
    }
    // devices is an integer or a string ('auto', '0,1'): one text box, turned back into a number
    trainerProps[name] =
      name === 'devices' ? { type: 'string', title: name } : { ...prop, title: name };
    trainerProps[name].description = TRAINER_HELP[name];
  }
  const trainerDefaults: { [key: string]: unknown } = {
    max_epochs: model.target?.max_epochs ?? 10,
    devices: 'auto',
    accelerator: 'auto',
    strategy: 'auto',
    precision: '32-true',
    ...model.trainer,
  };
  for (const [name, value] of Object.entries(trainerDefaults)) {
    const prop = trainerProps[name];
    if (prop && (!prop.enum || prop.enum.includes(value))) {
      prop.default = value;
    }
  }
  const trainerSchema: JSONSchema = { type: 'object', title: 'Trainer', properties: trainerProps };

  const seedSchema: JSONSchema = {
    type: 'integer',
    minimum: 0,
    maximum: 2 ** 32 - 1,
    ...(props.seed ?? {}),
    title: 'seed',
    description: 'seeds weights, shuffling and augmentation (the run id names it)',
    default: 0,
  };
  const schema: JSONSchema = {
    type: 'object',
    properties: {
      model_args: modelSchema,
      data_args: dataSchema,
      trainer_args: trainerSchema,
      seed: seedSchema,
    },
  };
  const uiSchema: JSONSchema = {};
  for (const section of ['model_args', 'data_args'] as const) {
    for (const [name, prop] of Object.entries<JSONSchema>(schema.properties[section].properties)) {
      if (isNumberList(prop)) {
        uiSchema[section] ??= {};
        uiSchema[section][name] = { 'ui:field': NUMBER_LIST_FIELD };
      }
    }
  }
  const loggerNames: string[] | undefined = props.loggers?.items?.enum;
  if (loggerNames?.length) {
    schema.properties.loggers = {
      type: 'array',
      title: 'extra loggers',
      description: 'metrics.csv is always written',
      items: { type: 'string', enum: loggerNames },
      uniqueItems: true,
      default: [],
    };
    uiSchema.loggers = { 'ui:widget': 'checkboxes', 'ui:options': { inline: true } };
  }
  const defaults: FormData = {
    model_args: defaultsOf(modelSchema),
    data_args: defaultsOf(dataSchema),
    trainer_args: defaultsOf(trainerSchema),
    seed: 0,
  };
  if (schema.properties.loggers) {
    defaults.loggers = [];
  }
  return { model: model.name, data: dataName, schema, uiSchema, defaults };
}

/**
 * What a new form starts with after another model or data set was picked: its defaults, with the seed
 * and the loggers kept, and the model's and the Trainer's options kept too when only the data changed.
 */
export function carryOver(
  previous: { form: LaunchForm; data: Partial<FormData> } | null,
  form: LaunchForm,
): FormData {
  const data: FormData = structuredClone(form.defaults);
  if (!previous) {
    return data;
  }
  data.seed = previous.data.seed ?? data.seed;
  if (data.loggers && previous.data.loggers) {
    data.loggers = [...previous.data.loggers];
  }
  if (previous.form.model === form.model) {
    data.model_args = keepKnown(previous.data.model_args, form.schema.properties.model_args);
    data.trainer_args = { ...data.trainer_args, ...previous.data.trainer_args };
  }
  return data;
}

function keepKnown(
  values: { [key: string]: unknown } | undefined,
  schema: JSONSchema,
): { [key: string]: unknown } {
  const out: { [key: string]: unknown } = {};
  for (const [name, value] of Object.entries(values ?? {})) {
    if (value !== undefined && schema.properties?.[name] && !schema.properties[name].readOnly) {
      out[name] = value;
    }
  }
  return out;
}

/** `devices` as Lightning reads it: a count is an integer, `'auto'` or `'0,1'` stay strings. */
export function parseDevices(value: unknown): unknown {
  if (typeof value !== 'string') {
    return value;
  }
  const text = value.trim();
  if (text === '') {
    return undefined;
  }
  return /^-?\d+$/.test(text) ? Number(text) : text;
}

/**
 * The `POST runs` body of what the form holds: only the form's own fields (read-only ones left out),
 * `devices` parsed, and `data` only when it is not the model's default (so the server adds the model's
 * options for its default data, as the CLI does).
 */
export function buildLaunchRequest(
  model: CatalogModel,
  dataName: string | undefined,
  form: LaunchForm,
  formData: Partial<FormData>,
): LaunchRequest {
  const props = form.schema.properties;
  const trainerArgs = keepKnown(formData.trainer_args, props.trainer_args);
  if ('devices' in trainerArgs) {
    const devices = parseDevices(trainerArgs.devices);
    if (devices === undefined) {
      delete trainerArgs.devices;
    } else {
      trainerArgs.devices = devices;
    }
  }
  const request: LaunchRequest = {
    model: model.name,
    model_args: keepKnown(formData.model_args, props.model_args),
    data_args: keepKnown(formData.data_args, props.data_args),
    trainer_args: trainerArgs,
    seed: formData.seed ?? 0,
  };
  if (dataName && dataName !== model.data) {
    request.data = dataName;
  }
  if (formData.loggers?.length) {
    request.loggers = formData.loggers as LaunchRequest['loggers'];
  }
  return request;
}

/** rjsf's `ErrorSchema`: `{model_args: {dropout: {__errors: ['…']}}}`. */
export type ErrorSchema = {
  __errors?: string[];
  [field: string]: ErrorSchema | string[] | undefined;
};

export interface MappedErrors {
  /** errors beside their fields (rjsf `extraErrors`) */
  extraErrors: ErrorSchema;
  /** every error as one line, `field: message` (the form's error list) */
  messages: string[];
  /** errors with no field of their own in the form (`model`, `data`, ``) */
  general: string[];
}

/**
 * The server's 400 `errors` (`{"model_args.dropout": "…", "model": "…"}`) as rjsf `extraErrors` for
 * the fields the form has, and as lines for the rest.
 */
export function mapServerErrors(errors: Record<string, string>, schema: JSONSchema): MappedErrors {
  const extraErrors: ErrorSchema = {};
  const messages: string[] = [];
  const general: string[] = [];
  for (const [key, message] of Object.entries(errors)) {
    messages.push(key ? `${key}: ${message}` : message);
    const path = key ? key.split('.') : [];
    let node: JSONSchema | undefined = schema;
    for (const part of path) {
      node = node?.properties?.[part];
    }
    if (!path.length || !node) {
      general.push(key ? `${key}: ${message}` : message);
      continue;
    }
    let target = extraErrors;
    for (const part of path) {
      target[part] ??= {};
      target = target[part] as ErrorSchema;
    }
    target.__errors = [...(target.__errors ?? []), message];
  }
  return { extraErrors, messages, general };
}

/** The server's errors still standing after the form changed: those whose field kept its value. */
export function keepUnchangedErrors(
  errors: Record<string, string>,
  before: Partial<FormData>,
  after: Partial<FormData>,
): Record<string, string> {
  const valueAt = (data: unknown, key: string) =>
    key
      .split('.')
      .reduce<unknown>(
        (node, part) =>
          node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined,
        data,
      );
  const kept: Record<string, string> = {};
  for (const [key, message] of Object.entries(errors)) {
    // `model`, `data` and `` are not in the form (undefined on both sides): kept until the next submit;
    // a section's own error (`model_args`: a value check in __init__) goes when the section changes
    if (JSON.stringify(valueAt(before, key)) === JSON.stringify(valueAt(after, key))) {
      kept[key] = message;
    }
  }
  return kept;
}
