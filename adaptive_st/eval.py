"""`python -m adaptive_st.eval ckpt_path=... [data=...]` — see adaptive_st.cli.eval_hydra."""

from adaptive_st.cli.eval_hydra import main

if __name__ == "__main__":
    main()
