"""The preamble of a subprocess script that runs as a Hub user would: `import eeg_vlm` raises ImportError."""

BLOCK_EEG_VLM = '''
import sys

class BlockEEGVLM:
    def find_spec(self, name, path=None, target=None):
        if name == "eeg_vlm" or name.startswith("eeg_vlm."):
            raise ImportError("eeg_vlm is blocked in this test")

sys.meta_path.insert(0, BlockEEGVLM())
'''
