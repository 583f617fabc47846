/**
 * The Schedule form through Galata, JupyterLab's own Playwright fixtures, in a jupyter lab whose
 * root is the `reports/` subdirectory of the test repository (see ../run).
 */

import { expect, test } from '@jupyterlab/galata';

/** A notebook with a `parameters` cell, as the Jupyter contents API stores it. */
function notebook(): string {
  const cell = (source: string, tags: string[] = []) => ({
    id: `cell-${tags.length}`,
    cell_type: 'code',
    execution_count: null,
    metadata: { tags },
    outputs: [],
    source
  });
  return JSON.stringify({
    cells: [
      cell('region = "north"\nlimit = 10', ['parameters']),
      cell('print(region, limit)')
    ],
    metadata: {
      kernelspec: {
        name: 'python3',
        display_name: 'Python 3 (ipykernel)',
        language: 'python'
      }
    },
    nbformat: 4,
    nbformat_minor: 5
  });
}

test.use({ autoGoto: true });

test('the Schedule form is reached and filled from the keyboard, in the dark theme', async ({
  page,
  tmpPath
}) => {
  const path = `${tmpPath}/weekly.ipynb`;
  await page.contents.uploadContent(notebook(), 'text', path);
  await page.notebook.openByPath(path);
  // The kernel's start writes its metadata into the notebook: save after it, since the
  // button waits for a saved notebook (the runner reads it from disk).
  await expect(page.getByText('Python 3 (ipykernel) | Idle')).toBeVisible();
  await page.notebook.save();
  await page.theme.setDarkTheme();

  const button = page.locator('.jp-NotebookPanel-toolbar .tf-schedule-button');
  await expect(button).not.toHaveAttribute('aria-disabled', 'true');
  await button.focus();
  await page.keyboard.press('Enter');
  const form = page.locator('.tf-schedule');
  await expect(form).toBeVisible();

  // Every field is reached with Tab, in the order the form shows them.
  const order: string[] = [];
  await form.locator('input, select, button, textarea').first().focus();
  for (let i = 0; i < 40; i++) {
    const id = await page.evaluate(() => {
      const active = document.activeElement as HTMLElement | null;
      return active?.closest('.tf-schedule')
        ? active.id ||
            active.dataset.action ||
            active.dataset.param ||
            active.tagName
        : null;
    });
    if (id === null) {
      break;
    }
    order.push(id);
    await page.keyboard.press('Tab');
  }
  for (const field of [
    'tf-name',
    'tf-cadence',
    'tf-timezone',
    'tf-owner',
    'tf-purpose',
    'region',
    'limit',
    'preview'
  ]) {
    expect(order, `Tab reaches ${field}`).toContain(field);
  }
  expect(order.indexOf('tf-name')).toBeLessThan(order.indexOf('tf-owner'));
  expect(order.indexOf('region')).toBeLessThan(order.indexOf('preview'));

  // The keyboard changes the cadence, and the words follow.
  await form.locator('#tf-cadence').focus();
  await form.locator('#tf-cadence').selectOption('monthly');
  await expect(form.locator('[data-cadence-text]')).toContainText(
    'every month'
  );
  await expect(form.locator('.tf-next-runs li')).toHaveCount(3);

  // The dark theme's own colours, through JupyterLab's variables: light text on a dark ground.
  const colours = await form.evaluate(node => {
    let ground: Element | null = node;
    while (
      ground &&
      ['rgba(0, 0, 0, 0)', 'transparent'].includes(
        getComputedStyle(ground).backgroundColor
      )
    ) {
      ground = ground.parentElement;
    }
    return {
      ground: ground ? getComputedStyle(ground).backgroundColor : '',
      text: getComputedStyle(node.querySelector('label') ?? node).color
    };
  });
  const luminance = (rgb: string) => {
    const [r, g, b] = (rgb.match(/\d+/g) ?? ['0', '0', '0']).map(Number);
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  };
  expect(luminance(colours.text), `text ${colours.text}`).toBeGreaterThan(0.5);
  expect(luminance(colours.ground), `ground ${colours.ground}`).toBeLessThan(
    0.3
  );
  await page.screenshot({
    path: '../../tests/.artifacts/galata/schedule-form-dark.png'
  });
});
