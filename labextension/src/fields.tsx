/**
 * One rjsf field of the launch form: a list of numbers (`hidden_sizes`, `layers`, `widths`) typed as
 * `64, 32` in one text box rather than rjsf's default of one box per item with move and delete buttons,
 * which a narrow sidebar has no room for.
 */
import type { FieldProps } from '@rjsf/utils';
import React, { useEffect, useState } from 'react';

/** `'64, 32'` → `[64, 32]`; text that is not a list of numbers comes back as it is (the schema then
 * reports it), an empty box as `[]`. */
export function parseNumberList(text: string): number[] | string {
  const tokens = text
    .trim()
    .replace(/^\[|\]$/g, '')
    .split(/[\s,]+/)
    .filter((t) => t !== '');
  const numbers = tokens.map(Number);
  return numbers.every((n) => Number.isFinite(n)) ? numbers : text;
}

export function formatNumberList(value: unknown): string {
  return Array.isArray(value) ? value.join(', ') : typeof value === 'string' ? value : '';
}

export function NumberListField(props: FieldProps): JSX.Element {
  const { idSchema, schema, formData, onChange, rawErrors, disabled, readonly, name } = props;
  const id = idSchema.$id;
  const [text, setText] = useState(() => formatNumberList(formData));
  // a value set from outside (a new model, a reset): show it, unless it is what the text already says
  useEffect(() => {
    if (JSON.stringify(parseNumberList(text)) !== JSON.stringify(formData)) {
      setText(formatNumberList(formData));
    }
  }, [JSON.stringify(formData)]);
  const label = schema.title ?? name;
  return (
    <div className="dltoolkit-NumberList">
      <label className="jp-FormGroup-fieldLabel jp-FormGroup-contentItem" htmlFor={id}>
        {label}
      </label>
      {schema.description ? (
        <div className="jp-FormGroup-description">{schema.description}</div>
      ) : null}
      <input
        id={id}
        name={id}
        className="form-control"
        type="text"
        inputMode="decimal"
        placeholder="e.g. 64, 32"
        value={text}
        disabled={disabled || readonly}
        aria-invalid={rawErrors?.length ? true : undefined}
        onChange={(e) => {
          setText(e.target.value);
          onChange(parseNumberList(e.target.value) as never);
        }}
      />
    </div>
  );
}
