"""`pipeline("image-text-to-text", model=DIR, trust_remote_code=True)` on a rendered epoch, as a Hub user runs it:
in a fresh process where `import eeg_vlm` is blocked, with and without an explicit `<image>` in the text and as chat.

    python -m pytest tests/test_pipeline.py -q
"""

import json
import os
import subprocess
import sys
import textwrap

from blocked_package import BLOCK_EEG_VLM

SCRIPT = BLOCK_EEG_VLM + textwrap.dedent(
    """
    import json

    import numpy as np
    import torch
    from PIL import Image
    from transformers import pipeline

    torch.manual_seed(0)
    pipe = pipeline("image-text-to-text", model=sys.argv[1], trust_remote_code=True)
    t = np.arange(9000) / 100  # an epoch with its neighbours, 100 Hz, in uV: 1-Hz 120-uV slow waves
    epoch = Image.fromarray(pipe.processor.image_processor.render(60 * np.sin(2 * np.pi * t), 100)[0])
    prompt = "Score this epoch."
    chat = [{"role": "user", "content": [{"type": "image", "image": epoch}, {"type": "text", "text": prompt}]}]
    results = {
        "plain": pipe(images=epoch, text=prompt, max_new_tokens=4, do_sample=False),
        "explicit": pipe(images=epoch, text="<image>" + prompt, max_new_tokens=4, do_sample=False),
        "chat": pipe(text=chat, max_new_tokens=4, do_sample=False),
    }
    print(json.dumps({
        "module": type(pipe.model).__module__,
        "processor": type(pipe.processor).__module__,
        "texts": {k: (v[0]["generated_text"] if k != "chat" else v[0]["generated_text"][-1]["content"])
                  for k, v in results.items()},
    }))
    """
)


def test_pipeline_image_text_to_text_without_the_package(tiny_model_dir, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules"), "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tiny_model_dir)], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert "transformers_modules" in out["module"] and "transformers_modules" in out["processor"]
    texts = out["texts"]
    # the same image first, then the prompt: a plain prompt gets the image in front, as the explicit one has it
    assert texts["plain"].startswith("Score this epoch.") and texts["explicit"].startswith("<image>Score this epoch.")
    assert texts["plain"][len("Score this epoch."):] == texts["explicit"][len("<image>Score this epoch."):]
    assert isinstance(texts["chat"], str)


def test_processor_puts_the_image_first_when_the_text_has_no_image_token(tiny_model_and_processor):
    import numpy as np

    _, processor = tiny_model_and_processor
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    plain = processor(images=[image], text="Score this epoch.", return_tensors="pt")
    explicit = processor(images=[image], text="<image>Score this epoch.", return_tensors="pt")
    assert plain["input_ids"].tolist() == explicit["input_ids"].tolist()
    two = processor(images=[[image], [image]], text=["a", "b"], return_tensors="pt", padding=True)
    assert (two["input_ids"] == processor.image_token_id).sum(1).tolist() == [processor.num_image_tokens] * 2
