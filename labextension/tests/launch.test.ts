// The launch form's schema, its POST body and the server's errors mapped back onto its fields,
// checked against a snapshot of the real catalog (tests/fixtures/catalog.json).
// rjsf's Form is what JupyterLab's FormComponent renders (ui-components itself does not load under
// Node: its web components import extensionless ES modules)
import Form from '@rjsf/core';
import validator from '@rjsf/validator-ajv8';
import React from 'react';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { describe, expect, it } from 'vitest';

import type { Catalog, JSONSchema } from '../src/client';
import {
  buildLaunchForm,
  buildLaunchRequest,
  carryOver,
  keepUnchangedErrors,
  mapServerErrors,
  NUMBER_LIST_FIELD,
  parseDevices,
  plainDescription,
} from '../src/launch';
import fixture from './fixtures/catalog.json';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const catalog = fixture.catalog as unknown as Catalog;
const launchSchema = fixture.launch_schema as JSONSchema;
const model = (name: string) => catalog.models.find((m) => m.name === name)!;
const data = (name: string) => catalog.data.find((d) => d.name === name)!;

describe('buildLaunchForm', () => {
  const form = buildLaunchForm(model('mlp'), data('digits'), launchSchema);
  const props = form.schema.properties;

  it('nests the model, data and Trainer options and the seed in one schema', () => {
    expect(Object.keys(props)).toEqual([
      'model_args',
      'data_args',
      'trainer_args',
      'seed',
      'loggers',
    ]);
    expect(props.model_args.properties.hidden_sizes).toMatchObject({
      type: 'array',
      default: [256, 128],
    });
    expect(props.data_args.properties.batch_size.type).toBe('integer');
    expect(Object.keys(props.trainer_args.properties)).toEqual([
      'max_epochs',
      'devices',
      'accelerator',
      'strategy',
      'precision',
    ]);
  });

  it("takes the Trainer's enums and bounds from the server's launch schema", () => {
    const trainer = props.trainer_args.properties;
    expect(trainer.accelerator.enum).toEqual(
      launchSchema.properties.trainer_args.properties.accelerator.enum,
    );
    expect(trainer.precision.enum).toContain('bf16-mixed');
    expect(trainer.max_epochs).toMatchObject({ type: 'integer', minimum: 1 });
    expect(props.loggers.items.enum).toEqual(['tensorboard', 'mlflow']);
    expect(form.defaults.trainer_args).toEqual({
      max_epochs: model('mlp').target!.max_epochs,
      devices: 'auto',
      accelerator: 'auto',
      strategy: 'auto',
      precision: '32-true',
    });
  });

  it("starts from the model's own Trainer defaults (an agent trains on the CPU)", () => {
    const agent = buildLaunchForm(
      { ...model('mlp'), trainer: { accelerator: 'cpu' } },
      data('digits'),
      launchSchema,
    );
    expect(agent.defaults.trainer_args.accelerator).toBe('cpu');
    expect(agent.schema.properties.trainer_args.properties.accelerator.default).toBe('cpu');
    expect(form.defaults.trainer_args.accelerator).toBe('auto');
  });

  it('leaves out read-only hyperparameters (set from the data)', () => {
    expect(props.model_args.properties.input_shape).toBeUndefined();
    expect(props.model_args.properties.num_classes).toBeUndefined();
    expect(form.defaults.model_args).not.toHaveProperty('input_shape');
  });

  it("uses the model's options for its default data, and only for it", () => {
    const lenet = buildLaunchForm(model('lenet'), data('digits'), launchSchema);
    expect(lenet.defaults.data_args.resize).toBe(28);
    expect(lenet.defaults.data_args.augment).toBe('crop');
    const other = buildLaunchForm(model('lenet'), data('digits28'), launchSchema);
    expect(other.defaults.data_args.augment).toBe('none');
  });

  it('still offers the Trainer options without the launch schema', () => {
    const bare = buildLaunchForm(model('mlp'), data('digits'));
    expect(Object.keys(bare.schema.properties.trainer_args.properties)).toHaveLength(5);
    expect(bare.schema.properties.loggers).toBeUndefined();
  });

  it('keeps required data options required', () => {
    const folder = buildLaunchForm(model('mlp'), data('image_folder'), launchSchema);
    expect(folder.schema.properties.data_args.required).toEqual(['root']);
  });
});

describe('buildLaunchRequest', () => {
  const mlp = model('mlp');
  const form = buildLaunchForm(mlp, data('digits'), launchSchema);

  it('sends the form values, without read-only fields, and no data for the default data', () => {
    const request = buildLaunchRequest(mlp, 'digits', form, {
      ...form.defaults,
      model_args: { ...form.defaults.model_args, hidden_sizes: [64], input_shape: [1, 8, 8] },
      seed: 3,
    });
    expect(request.model).toBe('mlp');
    expect(request).not.toHaveProperty('data');
    expect(request.model_args!.hidden_sizes).toEqual([64]);
    expect(request.model_args).not.toHaveProperty('input_shape');
    expect(request.seed).toBe(3);
    expect(request.trainer_args).toEqual({ ...form.defaults.trainer_args });
    expect(request).not.toHaveProperty('loggers');
  });

  it('names other data, parses devices and sends chosen loggers', () => {
    const other = buildLaunchForm(mlp, data('digits28'), launchSchema);
    const request = buildLaunchRequest(mlp, 'digits28', other, {
      ...other.defaults,
      trainer_args: { ...other.defaults.trainer_args, devices: '2' },
      loggers: ['tensorboard'],
    });
    expect(request.data).toBe('digits28');
    expect(request.trainer_args!.devices).toBe(2);
    expect(request.loggers).toEqual(['tensorboard']);
  });

  it('turns devices into what Lightning reads', () => {
    expect(parseDevices('auto')).toBe('auto');
    expect(parseDevices(' 4 ')).toBe(4);
    expect(parseDevices('-1')).toBe(-1);
    expect(parseDevices('0,1')).toBe('0,1');
    expect(parseDevices('')).toBeUndefined();
  });

  it('turns reST literals in descriptions into plain text', () => {
    expect(plainDescription('``sgd``, ``adam`` or ``rmsprop``.')).toBe('sgd, adam or rmsprop.');
    const init = form.schema.properties.model_args.properties.init.description;
    expect(init).not.toContain('``');
  });

  it('edits number lists in one box', () => {
    expect(form.uiSchema.model_args.hidden_sizes).toEqual({ 'ui:field': NUMBER_LIST_FIELD });
    expect(form.uiSchema.model_args.dropout).toBeUndefined();
  });
});

describe('server errors on the form', () => {
  const form = buildLaunchForm(model('mlp'), data('digits'), launchSchema);

  it('puts field errors beside their fields and the rest in a general list', () => {
    const mapped = mapServerErrors(
      {
        'model_args.dropout': 'must be < 1',
        'trainer_args.max_epochs': 'must be >= 1',
        model_args: 'dropout must be in [0, 1), got 2.0',
        model: 'unknown model',
        'trainer_args.num_nodes': 'must be >= 1',
        '': 'expected a JSON object',
      },
      form.schema,
    );
    expect(mapped.extraErrors).toEqual({
      model_args: {
        dropout: { __errors: ['must be < 1'] },
        __errors: ['dropout must be in [0, 1), got 2.0'],
      },
      trainer_args: { max_epochs: { __errors: ['must be >= 1'] } },
    });
    expect(mapped.general).toEqual([
      'model: unknown model',
      'trainer_args.num_nodes: must be >= 1',
      'expected a JSON object',
    ]);
    expect(mapped.messages).toHaveLength(6);
  });

  it('drops an error once its field changes', () => {
    const before = form.defaults;
    const after = { ...before, model_args: { ...before.model_args, dropout: 0.5 } };
    const errors = {
      'model_args.dropout': 'must be < 1',
      'model_args.lr': 'must be > 0',
      model: 'unknown model',
      model_args: 'a value check',
    };
    expect(keepUnchangedErrors(errors, before, after)).toEqual({
      'model_args.lr': 'must be > 0',
      model: 'unknown model',
    });
  });

  it('renders with rjsf ids like root_model_args_hidden_sizes, and shows server errors beside fields', async () => {
    const host = document.createElement('div');
    document.body.appendChild(host);
    const root = createRoot(host);
    const mapped = mapServerErrors(
      { 'model_args.dropout': 'dropout must be in [0, 1)' },
      form.schema,
    );
    await act(async () => {
      root.render(
        React.createElement(Form, {
          schema: form.schema,
          uiSchema: form.uiSchema,
          formData: form.defaults,
          validator,
          extraErrors: mapped.extraErrors as never,
        }),
      );
    });
    for (const id of [
      'root_model_args_hidden_sizes',
      'root_model_args_dropout',
      'root_data_args_batch_size',
      'root_trainer_args_max_epochs',
      'root_trainer_args_accelerator',
      'root_trainer_args_strategy',
      'root_trainer_args_precision',
      'root_trainer_args_devices',
      'root_seed',
    ]) {
      expect(host.querySelector(`[id="${id}"]`), id).not.toBeNull();
    }
    expect(host.querySelector('#root_model_args_input_shape')).toBeNull();
    expect((host.querySelector('#root_trainer_args_max_epochs') as HTMLInputElement).value).toBe(
      String(model('mlp').target!.max_epochs),
    );
    expect(host.textContent).toContain('dropout must be in [0, 1)');
    await act(async () => root.unmount());
    host.remove();
  });
});

describe('carryOver', () => {
  const mlp = buildLaunchForm(model('mlp'), data('digits'), launchSchema);
  const typed = {
    ...mlp.defaults,
    model_args: { ...mlp.defaults.model_args, hidden_sizes: [32] },
    trainer_args: { ...mlp.defaults.trainer_args, max_epochs: 3 },
    seed: 7,
    loggers: ['tensorboard'],
  };

  it('starts a new form from its defaults', () => {
    expect(carryOver(null, mlp)).toEqual(mlp.defaults);
  });

  it('keeps the model and Trainer options when only the data changes', () => {
    const other = buildLaunchForm(model('mlp'), data('digits28'), launchSchema);
    const next = carryOver({ form: mlp, data: typed }, other);
    expect(next.model_args.hidden_sizes).toEqual([32]);
    expect(next.trainer_args.max_epochs).toBe(3);
    expect(next.data_args).toEqual(other.defaults.data_args);
    expect(next.seed).toBe(7);
    expect(next.loggers).toEqual(['tensorboard']);
  });

  it('keeps only the seed and loggers for another model', () => {
    const lenet = buildLaunchForm(model('lenet'), data('digits'), launchSchema);
    const next = carryOver({ form: mlp, data: typed }, lenet);
    expect(next.model_args).toEqual(lenet.defaults.model_args);
    expect(next.trainer_args).toEqual(lenet.defaults.trainer_args);
    expect(next.seed).toBe(7);
  });
});
