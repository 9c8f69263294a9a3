pub async fn run(_d: Option<f64>, _p: u16) -> Result<(), String> {
    Err("demo not yet".into())
}
